#!/usr/bin/env python3
"""Init time of every packaged Lambda: process start -> first poll of the runtime API.

Serves a fake Lambda Runtime API on 127.0.0.1 (it only records when
GET /2018-06-01/runtime/invocation/next first arrives), starts each function's
bootstrap from its bootstrap.zip (scripts/package.sh) with the environment the SAM
template gives it plus dummy credentials, and prints the median (and min / max) of
several starts per function. What is measured is the function's own cold start
(runtime start-up, tracing, configuration, AWS SDK clients); Lambda's sandbox and
download time come on top and are not ours to change.

Usage: python3 scripts/init_time.py [--runs N] [--lambda-dir DIR] [function ...]
"""

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

POLL = "/2018-06-01/runtime/invocation/next"


class Api(http.server.ThreadingHTTPServer):
    """The fake runtime API: remembers the first poll, answers nothing useful."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.polled = threading.Event()
        self.released = threading.Event()
        self.polled_at = None

    def arm(self):
        self.polled.clear()
        self.released.clear()
        self.polled_at = None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        now = time.perf_counter()
        if self.path == POLL and not self.server.polled.is_set():
            self.server.polled_at = now
            self.server.polled.set()
        # Hold the poll open, as the real API does while no event is waiting, until
        # the process has been killed.
        self.server.released.wait(5)
        try:
            self.send_response(503)
            self.end_headers()
        except OSError:
            pass

    def do_POST(self):  # noqa: N802
        # An init error (/runtime/init/error) means the function failed to start.
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode(errors="replace")
        sys.stderr.write(f"init error reported: {self.path} {body}\n")
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def environment(function, port):
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": f"igny8-{function}",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/igny8-{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "example-session-token",
        # No shared config files: Lambda has none either.
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "IGNY8_TABLE": "igny8-services-Table-0123456789AB",
        "IGNY8_BUCKET": "igny8-services-bucket-0123456789ab",
        "IGNY8_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:igny8-services-automation",
        "RUST_LOG": "info",
        "LAMBDA_TASK_ROOT": "/var/task",
        "TZ": ":UTC",
    }
    if function == "stage-images":
        env["IGNY8_IMAGE_QUEUE"] = "igny8-images"
        env["IGNY8_IMAGE_QUEUE_URL"] = "https://sqs.us-east-1.amazonaws.com/123456789012/igny8-images"
    return env


def start_once(api, bootstrap, env, cwd):
    api.arm()
    started = time.perf_counter()
    proc = subprocess.Popen([bootstrap], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not api.polled.wait(10):
            proc.kill()
            _, err = proc.communicate()
            raise RuntimeError(f"{bootstrap} did not poll within 10 s: {err.decode(errors='replace')[-2000:]}")
        return (api.polled_at - started) * 1000.0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        api.released.set()


def main():
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/igny8-target")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--lambda-dir", default=os.path.join(target, "lambda"))
    parser.add_argument("functions", nargs="*")
    args = parser.parse_args()
    functions = args.functions or sorted(
        d for d in os.listdir(args.lambda_dir) if os.path.isfile(os.path.join(args.lambda_dir, d, "bootstrap.zip"))
    )
    if not functions:
        sys.exit(f"no bootstrap.zip under {args.lambda_dir}: run scripts/package.sh first")
    api = Api()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    port = api.server_address[1]
    print(f"init time, process start -> first runtime API poll, {args.runs} starts each (ms):")
    print(f"  {'function':<22} {'median':>7} {'min':>7} {'max':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for function in functions:
            task_root = os.path.join(scratch, function)
            with zipfile.ZipFile(os.path.join(args.lambda_dir, function, "bootstrap.zip")) as z:
                z.extractall(task_root)
            bootstrap = os.path.join(task_root, "bootstrap")
            os.chmod(bootstrap, 0o755)
            env = environment(function, port)
            start_once(api, bootstrap, env, task_root)  # warm the page cache, as Lambda's is
            times = [start_once(api, bootstrap, env, task_root) for _ in range(args.runs)]
            median = statistics.median(times)
            worst = max(worst, median)
            print(f"  {function:<22} {median:7.1f} {min(times):7.1f} {max(times):7.1f}")
    api.shutdown()
    print(f"  slowest median: {worst:.1f} ms (goal <= 50 ms)")


if __name__ == "__main__":
    main()
