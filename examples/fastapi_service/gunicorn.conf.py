"""gunicorn settings for the example: uvicorn workers, the app loaded once in the master and forked."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "uvicorn_worker.UvicornWorker"  # ASGI workers (the uvicorn-worker package)
preload_app = True  # train the model once in the master; workers share its memory copy-on-write
graceful_timeout = 20  # time for each worker's lifespan shutdown to flush its telemetry
