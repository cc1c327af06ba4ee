"""The Ray a stage runs on: the cluster it is given, or a local Ray that stays on this machine.

Every stage that runs Ray work in its own process calls `init_ray()` first (instead of leaving it
to Ray Data, Train or Tune, whose implicit `ray.init()` listens on every interface). With
`RAY_ADDRESS` set (as under `ray job submit`), or a `ray start` cluster on this machine, it
connects there and starts nothing, as `ray.init()` would. Otherwise it starts a local Ray whose
servers (GCS, raylet and object manager, workers, dashboard and its agents) listen on 127.0.0.1
only; `FACTORY_RAY_NODE_IP` names another address of this machine for a local Ray that other
machines must reach. Ray turns a loopback address given to it into the machine's routable one
unless its single-machine switch is off (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, the default on
macOS and Windows): a loopback Ray turns it off in this process and its environment, so every
process it starts has it off too; another client joining it at 127.0.0.1 needs it as well.

Token auth is Ray 2.60's own: a local Ray has it on unless `RAY_AUTH_MODE=disabled` is set; the
token is `~/.ray/auth_token` (made on first use), and `ray.init` puts `RAY_AUTH_MODE=token` in
this process's environment, so the processes it starts present the token too.
"""

import os

NODE_IP_VARIABLE = "FACTORY_RAY_NODE_IP"
LOOPBACK = "127.0.0.1"


def local_node_ip() -> str:
    """The address a local Ray started here listens on: FACTORY_RAY_NODE_IP, else 127.0.0.1."""
    return os.environ.get(NODE_IP_VARIABLE) or LOOPBACK


def cluster_address(address: str | None = None, temp_dir: str | None = None) -> str | None:
    """The cluster `ray.init(address, _temp_dir=temp_dir)` would join (RAY_ADDRESS, or the
    `ray start` cluster of this machine), as host:port; None when it would start a local Ray."""
    from ray._private.services import canonicalize_bootstrap_address

    return canonicalize_bootstrap_address(address, temp_dir)


def init_ray(address: str | None = None, **options) -> None:
    """Join the cluster `ray.init(address)` would join, or start a local Ray listening on
    `local_node_ip()`; `options` go to `ray.init` (e.g. num_cpus for a local Ray). Nothing
    happens when this process is connected already; `address="local"` always starts one."""
    import ray

    if ray.is_initialized():
        return
    if cluster_address(address, options.get("_temp_dir")) is not None:
        ray.init(address=address, **options)
        return
    node_ip = local_node_ip()
    options.setdefault("dashboard_host", node_ip)
    ray.init(address=address, **_node_ip_options(node_ip), **options)


def _node_ip_options(node_ip: str) -> dict:
    """ray.init's options for a local node on `node_ip`; for a loopback address, Ray's
    single-machine switch is turned off instead (module docstring)."""
    from ray._common.network_utils import is_localhost
    from ray._private import ray_constants

    if not is_localhost(node_ip):
        return {"_node_ip_address": node_ip}
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    return {}
