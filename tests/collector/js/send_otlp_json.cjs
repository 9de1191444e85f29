// Sends one span and a few metrics (counter + exponential histogram) with the OpenTelemetry JS SDK's
// OTLP/HTTP exporters, which encode OTLP/JSON: an independent client for the collector's JSON receiver.
// Usage: node send_otlp_json.cjs http://127.0.0.1:4318 RUN_ID
'use strict';
const { TracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
const { MeterProvider, PeriodicExportingMetricReader, AggregationType } = require('@opentelemetry/sdk-metrics');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');

async function main() {
  const [base, run] = process.argv.slice(2);
  const resource = resourceFromAttributes({ 'service.name': 'js-client', run });
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${base}/v1/traces` }) })],
  });
  const span = tracerProvider.getTracer('js-test').startSpan('predict js', {
    attributes: { 'ml.model.name': 'fraud', 'ml.batch.size': 16, 'ml.score': 0.25, 'ml.ok': true, tags: ['a', 'b'] },
  });
  span.end();
  const meterProvider = new MeterProvider({
    resource,
    views: [{ instrumentName: 'ml.feature.distribution', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
        exportIntervalMillis: 3600000,
      }),
    ],
  });
  const meter = meterProvider.getMeter('js-test');
  meter.createCounter('ml.inference.predictions').add(9007199254740, { 'ml.model.name': 'fraud' });
  const histogram = meter.createHistogram('ml.feature.distribution');
  for (const value of [0.5, 1, 2, 4, 100]) histogram.record(value, { 'ml.feature.name': 'amount' });
  await tracerProvider.forceFlush();
  await meterProvider.forceFlush();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  console.log(JSON.stringify({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
