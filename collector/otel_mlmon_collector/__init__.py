"""otel-mlmon-collector: an OTLP hop that passes telemetry through and analyses ML signals."""
