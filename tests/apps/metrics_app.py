"""The app two uvicorn processes serve in tests/metrics/test_metrics_workers.py: every
worker publishes to ``COVET_METRICS_DIR``; ``GET /metrics`` sums them."""

from __future__ import annotations

import os
from typing import Any

from covet import CovetRouter, Request, create_asgi_app
from covet.metrics import PrometheusMetrics

router = CovetRouter()


@router.get("/items/{id:int}")
async def item(request: Request) -> Any:
    return {"id": request.path_params["id"]}


@router.get("/pid")
async def pid(request: Request) -> Any:
    return {"pid": os.getpid()}


app = create_asgi_app(router)
metrics = PrometheusMetrics(app, interval=float(os.environ.get("METRICS_INTERVAL", "1")))
app.add_route("/metrics", metrics.endpoint)
