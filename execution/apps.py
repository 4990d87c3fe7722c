from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"

    def ready(self) -> None:
        from fmugateway.core.tasks import worker_status

        worker_status.connect(report_sandbox, dispatch_uid="execution.report_sandbox")
        from celery import signals

        # A worker logs its sandbox's isolation at start and removes the sandbox's cgroups and
        # FMU cache when it (or one of its pool processes) stops.
        signals.worker_ready.connect(log_isolation, dispatch_uid="execution.log_isolation")
        for name, stop in (
            ("worker_process_shutdown", signals.worker_process_shutdown),
            ("worker_shutdown", signals.worker_shutdown),
        ):
            stop.connect(close_sandbox, dispatch_uid=f"execution.close_sandbox.{name}")

        # Licenses grant runs (execution asks licensing; compliance registers its blocks).
        from execution.services.run_access import register_run_rule
        from licensing.entitlements import grants_run

        register_run_rule(grants_run)

        # The package page (a registry page) shows the run form built from the version.
        from execution.forms import run_form_context
        from registry.pages import register_package_page_extension

        register_package_page_extension(run_form_context)


def report_sandbox(sender, **kwargs) -> dict:
    """The worker's heartbeat says which isolation its FMU sandbox has (probe is cached)."""
    from fmugateway.core.sandbox import isolation_status

    return {"sandbox": isolation_status()}


def log_isolation(**kwargs) -> None:
    from fmugateway.core.sandbox import log_isolation

    log_isolation()


def close_sandbox(**kwargs) -> None:
    from fmugateway.core.sandbox import close_sandbox

    close_sandbox()
