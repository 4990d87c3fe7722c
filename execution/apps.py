from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "execution"

    def ready(self) -> None:
        from fmugateway.core.tasks import worker_status

        worker_status.connect(report_sandbox, dispatch_uid="execution.report_sandbox")

        # Licenses grant runs (execution asks the marketplace; never the other way round).
        from execution.services.access import register_run_block, register_run_rule
        from marketplace.entitlements import grants_run
        from marketplace.services.takedowns import takedown_block

        register_run_rule(grants_run)
        register_run_block(takedown_block)  # DMCA: 451 package_taken_down


def report_sandbox(sender, **kwargs) -> dict:
    """The worker's heartbeat says whether its FMU sandbox is isolated (probe is cached)."""
    from django.conf import settings

    from fmugateway.core.sandbox import sandbox_config
    from fmusandbox import probe

    report = probe(sandbox_config())
    return {
        "sandbox": {
            "isolated": report.supported,
            "usable": report.supported or settings.FMU_SANDBOX_ALLOW_INSECURE,
            "detail": report.detail,
            "user_namespace": report.user_namespace,
        }
    }
