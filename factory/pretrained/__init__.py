"""Pretrained models: fetched once into one cache, pinned, and found again by every stage.

A job config names its models by local folder or hub id (`config_models.MODEL_FIELDS`: the
diffusion pipeline, the parser, the describe LLM and VLM, the ReID backbone's ImageNet weights).
`factory models pull CONFIG` (`command`) downloads every hub model into huggingface_hub's cache
(`HF_HOME`; on a cluster, shared storage every node mounts at the same path) and torchvision's
ImageNet files into torch.hub's (`TORCH_HOME`, likewise shared), and records each revision in a
lock file beside the cache (`lock`). From then on the factory fingerprints and loads the pinned
snapshot folder (`hub.pinned_folder`), never a moving branch; a model that is not pulled stops a
job before any work with an error naming the model and the command that pulls it
(`lock.ModelNotPulled`).
"""
