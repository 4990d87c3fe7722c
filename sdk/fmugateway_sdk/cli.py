"""``fmugw``: the FMU Gateway command line.

Settings come from ``--url``/``--api-key`` or ``FMUGW_URL``/``FMUGW_API_KEY``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fmugateway_sdk.client import FMUGatewayClient
from fmugateway_sdk.errors import ApiError, JobFailed, SignatureError
from fmugateway_sdk.verify import verify_attestation, verify_signed_document


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _start_values(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects NAME=VALUE, got {pair!r}")
        values[name] = _value(value)
    return values


def _print(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fmugw", description="FMU Gateway command line")
    parser.add_argument("--url", help="gateway base URL (FMUGW_URL)")
    parser.add_argument("--api-key", help="API key (FMUGW_API_KEY)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("packages", help="list packages you can see")
    show = commands.add_parser("show", help="a package and its versions")
    show.add_argument("package")

    upload = commands.add_parser("upload", help="upload an .fmu as a new version")
    upload.add_argument("package")
    upload.add_argument("fmu", type=Path)
    upload.add_argument("--version", required=True)
    upload.add_argument("--changelog", default="")

    run = commands.add_parser("run", help="simulate a model and wait for the results")
    run.add_argument("package")
    run.add_argument("version")
    run.add_argument("--stop-time", type=float)
    run.add_argument("--start-time", type=float)
    run.add_argument("--output-interval", type=float)
    run.add_argument("--fmi-type", choices=["ME", "CS"])
    run.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="start value (repeatable)"
    )
    run.add_argument("--output", action="append", default=[], help="variable to record")
    run.add_argument("--csv", type=Path, help="write the results as CSV here")
    run.add_argument("--plot", type=Path, help="write a PNG plot here")
    run.add_argument("--timeout", type=float, default=600)

    download = commands.add_parser("download", help="download a version's .fmu (if licensed)")
    download.add_argument("package")
    download.add_argument("version")
    download.add_argument("destination", type=Path)

    keys = commands.add_parser("platform-keys", help="save the platform's public keys (JSON)")
    keys.add_argument("destination", type=Path)

    attest = commands.add_parser("verify-attestation", help="verify an attestation offline")
    attest.add_argument("fmu", type=Path)
    attest.add_argument("attestation", type=Path)
    attest.add_argument("--keys", type=Path, required=True, help="saved platform-keys JSON")

    license_file = commands.add_parser("verify-license-file", help="verify an offline license file")
    license_file.add_argument("file", type=Path)
    license_file.add_argument("--keys", type=Path, required=True)

    verify = commands.add_parser("verify-license", help="ask the gateway about a license key")
    verify.add_argument("key")
    verify.add_argument("package")
    verify.add_argument("--fingerprint", required=True)

    args = parser.parse_args(argv)
    client = FMUGatewayClient(args.url, args.api_key)
    try:
        return _dispatch(args, client)
    except ApiError as exc:
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
        for field, problems in (exc.fields or {}).items():
            for problem in problems if isinstance(problems, list) else [problems]:
                print(f"  {field}: {problem}", file=sys.stderr)
        return 2
    except (JobFailed, SignatureError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _dispatch(args, client: FMUGatewayClient) -> int:
    if args.command == "packages":
        for package in client.packages():
            print(
                f"{package['slug']:<32} {package.get('latest_version') or '-':<10} "
                f"{package['name']}"
            )
    elif args.command == "show":
        _print({"package": client.package(args.package), "versions": client.versions(args.package)})
    elif args.command == "upload":
        _print(client.upload_version(args.package, args.fmu, args.version, args.changelog))
    elif args.command == "run":
        settings = {
            key: value
            for key, value in {
                "stop_time": args.stop_time,
                "start_time": args.start_time,
                "output_interval": args.output_interval,
                "fmi_type": args.fmi_type,
                "start_values": _start_values(args.set) or None,
                "outputs": args.output or None,
            }.items()
            if value is not None
        }
        job = client.run(args.package, args.version, **settings).wait(timeout=args.timeout)
        if args.csv:
            job.save_csv(args.csv)
        if args.plot:
            job.save_plot(args.plot)
        usage = job.data.get("usage") or {}
        print(
            f"job {job.id} {job.status}; cpu {usage.get('cpu_s')} s; "
            f"cost {job.data.get('cost_credits')} credits"
        )
        if not args.csv:
            _print(job.results())
    elif args.command == "download":
        print(client.download(args.package, args.version, args.destination))
    elif args.command == "platform-keys":
        args.destination.write_text(json.dumps(client.platform_keys(), indent=2))
        print(args.destination)
    elif args.command == "verify-attestation":
        keys = json.loads(args.keys.read_text(encoding="utf-8"))
        payload = verify_attestation(
            args.fmu, json.loads(args.attestation.read_text(encoding="utf-8")), keys
        )
        print(f"valid: {payload['package']} {payload['version']} certified {payload['issued_at']}")
    elif args.command == "verify-license-file":
        keys = json.loads(args.keys.read_text(encoding="utf-8"))
        payload = verify_signed_document(json.loads(args.file.read_text(encoding="utf-8")), keys)
        _print(payload)
    elif args.command == "verify-license":
        _print(client.verify_license(args.key, args.package, args.fingerprint))
    return 0


if __name__ == "__main__":
    sys.exit(main())
