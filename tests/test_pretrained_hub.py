"""Hub models: which files a pull takes, pinning, and finding the pinned snapshot offline."""

import json

import pytest
from hub_cache import COMMIT, cache_model, use_hub_cache

from factory.diffusion.loader import model_fingerprint, resolve_model_folder
from factory.pretrained import hub
from factory.pretrained.hub import files_to_pull, pinned_folder, pull_hub_model
from factory.pretrained.lock import ModelNotPulled, pinned_revision, read_lock, record

SD15_FILES = [
    "model_index.json", "v1-5-pruned-emaonly.safetensors", "v1-5-pruned.ckpt", "README.md",
    "feature_extractor/preprocessor_config.json", "safety_checker/config.json",
    "safety_checker/model.safetensors", "safety_checker/pytorch_model.bin",
    "scheduler/scheduler_config.json", "text_encoder/config.json",
    "text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors",
    "text_encoder/pytorch_model.bin", "tokenizer/merges.txt", "tokenizer/vocab.json",
    "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
    "unet/diffusion_pytorch_model.non_ema.safetensors", "unet/diffusion_pytorch_model.bin",
    "unet/diffusion_pytorch_model.fp16.safetensors", "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.msgpack",
]


def test_a_pipeline_pull_takes_its_components_in_full_precision_safetensors():
    assert files_to_pull(SD15_FILES) == [
        "README.md", "feature_extractor/preprocessor_config.json", "model_index.json",
        "scheduler/scheduler_config.json", "text_encoder/config.json",
        "text_encoder/model.safetensors", "tokenizer/merges.txt", "tokenizer/vocab.json",
        "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors"]


def test_a_model_pull_keeps_bin_weights_only_where_there_are_no_safetensors():
    llama = ["config.json", "model-00001-of-00002.safetensors",
             "model-00002-of-00002.safetensors", "model.safetensors.index.json",
             "pytorch_model-00001-of-00002.bin", "tokenizer.model", "onnx/model.onnx"]
    assert files_to_pull(llama) == ["config.json", "model-00001-of-00002.safetensors",
                                    "model-00002-of-00002.safetensors",
                                    "model.safetensors.index.json", "tokenizer.model"]
    assert files_to_pull(["config.json", "pytorch_model.bin"]) == ["config.json",
                                                                    "pytorch_model.bin"]


def test_the_lock_records_revisions_and_keeps_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_MODELS_LOCK", str(tmp_path / "lock.json"))
    assert read_lock() == {"hub": {}, "torchvision": {}} and pinned_revision("a/b") is None
    record("hub", "a/b", "1" * 40)
    record("torchvision", "resnet50", {"file": "resnet50-0676ba61.pth"})
    record("hub", "c/d", "2" * 40)
    assert json.loads((tmp_path / "lock.json").read_text()) == {
        "hub": {"a/b": "1" * 40, "c/d": "2" * 40},
        "torchvision": {"resnet50": {"file": "resnet50-0676ba61.pth"}}}


def test_the_pinned_snapshot_is_what_the_loader_and_fingerprint_see(tmp_path, monkeypatch,
                                                                     toy_sd):
    cache = use_hub_cache(monkeypatch, tmp_path)
    snapshot = cache_model(cache, "org/sd", toy_sd / "sd")
    with pytest.raises(ModelNotPulled, match=r"org/sd has no pinned revision.*factory models "
                                             r"pull CONFIG"):
        pinned_folder("org/sd")
    record("hub", "org/sd", COMMIT)
    assert pinned_folder("org/sd") == resolve_model_folder("org/sd") == snapshot
    assert model_fingerprint("org/sd") == model_fingerprint(toy_sd / "sd")
    record("hub", "org/sd", "f" * 40)  # pinned at a commit the cache does not hold
    with pytest.raises(ModelNotPulled, match=f"field 'model': model org/sd is pinned at "
                                             f"{'f' * 40} but that snapshot is not in the "
                                             f"model cache"):
        pinned_folder("org/sd", "model")


def test_an_offline_pull_pins_what_the_cache_holds_and_names_what_it_lacks(tmp_path,
                                                                          monkeypatch, toy_sd):
    cache = use_hub_cache(monkeypatch, tmp_path)
    snapshot = cache_model(cache, "org/sd", toy_sd / "sd")
    assert hub.offline()  # tests run with HF_HUB_OFFLINE=1 (conftest)
    assert pull_hub_model("org/sd") == snapshot
    with pytest.raises(ModelNotPulled, match=r"org/missing is not in the model cache .* "
                                             r"HF_HUB_OFFLINE=1 forbids downloading it"):
        pull_hub_model("org/missing")


def test_an_online_pull_asks_the_hub_for_the_pinned_revision_and_only_the_loaded_files(
        tmp_path, monkeypatch):
    use_hub_cache(monkeypatch, tmp_path)
    calls = []

    class Sibling:
        def __init__(self, name):
            self.rfilename = name

    class FakeApi:
        def model_info(self, model_id, revision):
            calls.append(("info", model_id, revision))
            return type("Info", (), {"siblings": [Sibling(name) for name in SD15_FILES]})

    def fake_download(model_id, *, revision, cache_dir, allow_patterns):
        calls.append(("download", model_id, revision, tuple(allow_patterns)))
        return f"{cache_dir}/models--org--sd/snapshots/{COMMIT}"

    import huggingface_hub

    monkeypatch.setattr(hub, "offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert pull_hub_model("org/sd").name == COMMIT
    assert calls[0] == ("info", "org/sd", "main")
    assert calls[1][:3] == ("download", "org/sd", "main")
    assert calls[1][3] == tuple(files_to_pull(SD15_FILES))
    record("hub", "org/sd", "a" * 40)
    calls.clear()
    pull_hub_model("org/sd")  # a pinned model is pulled at its pin, not at main
    assert [call[2] for call in calls] == ["a" * 40, "a" * 40]
    calls.clear()
    pull_hub_model("org/sd", update=True)
    assert [call[2] for call in calls] == ["main", "main"]
