"""OpenTelemetry for the process, chosen by settings; imported only when telemetry is switched on.

* ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set (infra/ sets it): azure-monitor-opentelemetry's
  ``configure_azure_monitor``, with Entra ID (the managed identity) when ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING``
  says ``Authorization=AAD``.
* else ``TELEMETRY_EXPORTER``: ``console`` prints spans and metrics to stdout; ``otlp`` sends them over OTLP/HTTP to
  the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (read by the exporter itself); ``none`` installs nothing and
  :mod:`transport.telemetry` stays a no-op.

Every import of OpenTelemetry is inside a branch, so ``import function_app`` never loads an exporter.
"""

from __future__ import annotations

import logging
from typing import Any

from composition.settings import Settings, TelemetryExporter
from transport import telemetry

log = logging.getLogger(__name__)

#: The instrumentation scope of the app's spans and meters.
SCOPE = "catalog-search"
_configured = False


def configure_telemetry(settings: Settings) -> str:
    """Install the exporter the settings choose (once per process); returns which: ``azure-monitor``, ``console``,
    ``otlp`` or ``none``."""
    global _configured
    if settings.APPLICATIONINSIGHTS_CONNECTION_STRING:
        target = "azure-monitor"
    else:
        target = str(settings.TELEMETRY_EXPORTER)
    if target == "none" or _configured:
        return target
    if target == "azure-monitor":
        _azure_monitor(settings)
    else:
        _sdk_providers(settings.TELEMETRY_EXPORTER)
    from opentelemetry import metrics, trace

    telemetry.install(trace.get_tracer(SCOPE), metrics.get_meter(SCOPE))
    _configured = True
    log.info("OpenTelemetry: spans and metrics go to %s", target)
    return target


def _azure_monitor(settings: Settings) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    options: dict[str, Any] = {"connection_string": settings.APPLICATIONINSIGHTS_CONNECTION_STRING}
    auth = dict(
        part.split("=", 1) for part in settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING.split(";") if "=" in part
    )
    if auth.get("Authorization", "").upper() == "AAD":
        from azure.identity import ManagedIdentityCredential

        client_id = auth.get("ClientId") or settings.AZURE_CLIENT_ID or None
        options["credential"] = ManagedIdentityCredential(client_id=client_id)
    configure_azure_monitor(**options)


def _sdk_providers(exporter: TelemetryExporter) -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": SCOPE})
    tracer_provider = TracerProvider(resource=resource)
    if exporter is TelemetryExporter.CONSOLE:
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        metric_exporter: Any = ConsoleMetricExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        metric_exporter = OTLPMetricExporter()
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
