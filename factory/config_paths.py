"""A job's paths made absolute before its work leaves this process (Ray workers may run in another
folder or on another node), its inputs checked first, so a bad path fails before any work
starts with an error that names the field."""

from pathlib import Path

from factory.pretrained.hub import is_hub_id, pinned_folder
from factory.storage import ObjectPath, storage_path
from schemas.config_base import ConfigError


def resolve_paths(config, *, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()):
    """`config` (a pydantic model) with the path fields named in `inputs` (which must exist) and
    `outputs` (not checked: what the job writes, or what a later stage reads) made absolute;
    fields set to None are left alone, and so are paths in a bucket (absolute already)."""
    changes = {}
    for field in (*inputs, *outputs):
        value = getattr(config, field)
        if value is None:
            continue
        if field in inputs and not storage_path(value).exists():
            raise ConfigError(f"field {field!r}: {value} does not exist")
        changes[field] = storage_path(value).resolve()
    return config.model_copy(update=changes)


def resolve_model(name: str, field: str = "model") -> str:
    """A model named by folder (made absolute) or by hub id: its snapshot folder at the pinned
    revision (`factory.pretrained`), so every worker loads the weights the job was planned with
    from the shared cache; a hub model not pulled fails here, naming it. A folder in a bucket
    stays a URI: each worker loads it through `factory.storage.local_copy`."""
    if isinstance(storage_path(name), ObjectPath):
        if not storage_path(name).is_dir():
            raise ConfigError(f"field {field!r}: {name} is no model folder")
        return name
    if Path(name).is_dir():
        return str(Path(name).resolve())
    if is_hub_id(name):
        return str(pinned_folder(name, field))
    raise ConfigError(f"field {field!r}: {name} is neither a model folder nor a hub id")
