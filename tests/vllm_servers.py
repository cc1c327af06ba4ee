"""vLLM's OpenAI-compatible server on 127.0.0.1, run from the describe environment for the `http`
backends' tests, with the CPU settings of the tiny smoke models."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

from factory.describe.environment import DEFAULT_PYTHON
from factory.laptop.tiny_llm import SMOKE_ENGINE_KWARGS

SERVER_START_TIMEOUT_S = 420


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(server: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the vLLM server exited with {server.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(2)
    raise TimeoutError(f"the vLLM server did not answer {url} in {SERVER_START_TIMEOUT_S} s")


@contextlib.contextmanager
def vllm_server(model: str, served_name: str, smoke: dict, *extra: str) -> Iterator[str]:
    """Serve `model` as `served_name`; yields the chat-completions URL; stopped afterwards."""
    port = _free_port()
    command = [str(DEFAULT_PYTHON), "-m", "vllm.entrypoints.openai.api_server",
               "--model", model, "--served-model-name", served_name,
               "--host", "127.0.0.1", "--port", str(port),
               "--max-model-len", str(smoke["max_model_len"]),
               "--gpu-memory-utilization", str(smoke["gpu_memory_utilization"]),
               "--dtype", SMOKE_ENGINE_KWARGS["dtype"], "--enforce-eager",
               "--no-enable-chunked-prefill",
               "--max-num-batched-tokens", str(SMOKE_ENGINE_KWARGS["max_num_batched_tokens"]),
               "--structured-outputs-config", '{"backend": "guidance"}', *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
    server = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        _wait_until_healthy(server, f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}/v1/chat/completions"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the engine process it started
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
