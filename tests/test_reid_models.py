import json

import pytest
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import load_file, save_file

from factory.reid.checkpoint import (
    checkpoint_class_pids,
    load_checkpoint,
    load_checkpoint_config,
    save_checkpoint,
)
from factory.reid.losses import (
    CrossEntropyLabelSmooth,
    TripletLoss,
    WeightedRegularizedTriplet,
)
from factory.reid.models import CAJ, CAL, MODELS, BoT, GeM, ReIDOutput, build_model
from factory.reid.sampler import PKSampler, VisibleInfraredPKSampler

torch.set_num_threads(2)


def small_bot(num_classes=5, **options):
    torch.manual_seed(0)
    return build_model("bot", num_classes, arch="resnet10", **options)


@pytest.mark.parametrize("name, options", [("bot", {}), ("caj", {}), ("cal", {"num_clothes": 3})])
def test_every_model_takes_images_and_modalities_and_returns_one_output(name, options):
    torch.manual_seed(0)
    model = build_model(name, 5, arch="resnet10", **options)
    images, modalities = torch.randn(4, 3, 64, 32), torch.tensor([0, 1, 0, 1])
    for training in (True, False):
        model.train(training)
        with torch.set_grad_enabled(training):
            plain = model(images, modalities)
            asked = model(images, modalities, logits=True)
        assert isinstance(plain, ReIDOutput) and isinstance(asked, ReIDOutput)
        assert plain.features.shape == plain.pooled.shape == (4, 512)
        assert plain.logits is None and plain.clothes_logits is None
        assert asked.logits.shape == (4, 5)
        assert (asked.clothes_logits is not None) == (name == "cal") == model.learns_clothes
    with torch.no_grad():  # eval: the BN feature of the pooled one, with running statistics
        output = model(images, modalities, logits=True)
        torch.testing.assert_close(output.features, model.head.bottleneck(output.pooled))
        torch.testing.assert_close(output.logits, model.head.classifier(output.features))


def test_the_model_class_says_how_it_is_trained():
    pids, modalities = torch.arange(4).repeat_interleave(4).numpy(), torch.tensor([0, 1] * 8)
    assert isinstance(BoT.metric_loss(0.3), TripletLoss)
    assert isinstance(CAL.metric_loss(0.3), TripletLoss)
    assert isinstance(CAJ.metric_loss(0.3), WeightedRegularizedTriplet)
    assert isinstance(BoT.batch_sampler(pids, modalities.numpy(), 2, 2), PKSampler)
    assert isinstance(CAJ.batch_sampler(pids, modalities.numpy(), 2, 2), VisibleInfraredPKSampler)
    bot, caj = BoT.train_transforms((64, 32)), CAJ.train_transforms((64, 32))
    assert set(bot) == set(caj) == {0, 1}
    assert bot[0] is bot[1] and caj[0] is not caj[1]  # CAJ: channel augmentation per modality
    assert not BoT.learns_clothes and not CAJ.learns_clothes and CAL.learns_clothes


@pytest.mark.parametrize("arch, channels", [("resnet18", 512), ("resnet50", 2048)])
def test_last_stride_one_doubles_the_layer4_map(arch, channels):
    images = torch.randn(1, 3, 128, 64)
    with torch.no_grad():
        stride_one = build_model("bot", 3, arch=arch).eval().feature_map(images, 0)
        stride_two = build_model("bot", 3, arch=arch, last_stride=2).eval().feature_map(images, 0)
    assert stride_one.shape == (1, channels, 8, 4)
    assert stride_two.shape == (1, channels, 4, 2)


def test_bnneck_bias_stays_zero_and_classifier_has_no_bias():
    model = small_bot()
    bottleneck = model.head.bottleneck
    assert not bottleneck.bias.requires_grad and model.head.classifier.bias is None
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=5e-4, momentum=0.9)
    for _ in range(2):
        output = model(torch.randn(4, 3, 64, 32), 0, logits=True)
        loss = F.cross_entropy(output.logits, torch.tensor([0, 1, 2, 3])) + output.pooled.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.count_nonzero(bottleneck.bias) == 0
    assert not torch.allclose(bottleneck.weight, torch.ones_like(bottleneck.weight))


def test_gem_is_a_learnable_generalized_mean():
    gem = GeM(p=2.0)
    feature_map = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    expected = ((1 + 4 + 9 + 16) / 4) ** 0.5
    torch.testing.assert_close(gem(feature_map), torch.tensor([[expected]]))
    gem(feature_map).sum().backward()
    assert gem.p.grad is not None
    torch.testing.assert_close(GeM(p=1.0)(feature_map), feature_map.mean(dim=(-2, -1)))
    model = small_bot(pooling="gem")
    assert isinstance(model.pool, GeM) and model.pool.p.requires_grad


def test_caj_has_one_stem_per_modality_and_a_shared_body():
    torch.manual_seed(0)
    model = build_model("caj", 4, arch="resnet10").eval()
    assert isinstance(model, CAJ) and not hasattr(model, "stem")
    rgb_stem, ir_stem = model.stems
    assert rgb_stem.conv1.weight is not ir_stem.conv1.weight
    torch.testing.assert_close(rgb_stem.conv1.weight, ir_stem.conv1.weight)  # same init
    with torch.no_grad():
        ir_stem.conv1.weight.mul_(-1.0)
    images = torch.randn(4, 3, 64, 32)
    modalities = torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        mixed = model(images, modalities).features
        all_rgb = model(images, 0).features
        all_ir = model(images, 1).features
    torch.testing.assert_close(mixed[[0, 3]], all_rgb[[0, 3]])
    torch.testing.assert_close(mixed[[1, 2]], all_ir[[1, 2]])
    assert not torch.allclose(all_rgb, all_ir)
    model.train()
    output = model(images, modalities, logits=True)
    output.logits.sum().backward()
    assert rgb_stem.conv1.weight.grad is not None and ir_stem.conv1.weight.grad is not None
    assert model.body.layer4[0].conv1.weight.grad is not None
    with pytest.raises(ValueError, match="modalities"):
        model(images, torch.tensor([0, 1, 2, 0]))


def test_cal_clothes_logits_train_only_the_classifier_and_adversarial_only_the_backbone():
    torch.manual_seed(0)
    model = build_model("cal", 4, arch="resnet10", num_clothes=6)
    assert isinstance(model, CAL)
    output = model(torch.randn(4, 3, 64, 32), 0, logits=True)
    assert output.clothes_logits.shape == (4, 6)
    assert output.clothes_logits.abs().max() <= 1.0 + 1e-5
    torch.testing.assert_close(output.clothes_logits, output.adversarial_clothes_logits)

    output.clothes_logits.sum().backward(retain_graph=True)
    assert model.clothes_classifier.weight.grad is not None
    assert model.stem.conv1.weight.grad is None
    model.zero_grad(set_to_none=True)
    output.adversarial_clothes_logits.sum().backward()
    assert model.clothes_classifier.weight.grad is None
    assert model.stem.conv1.weight.grad is not None


def test_build_model_lists_valid_names():
    assert set(MODELS) == {"bot", "caj", "cal"}
    with pytest.raises(ValueError, match=r"\['bot', 'caj', 'cal'\]"):
        build_model("agw", 3)
    with pytest.raises(ValueError, match="resnet10"):
        build_model("bot", 3, arch="vit")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_backbone_loads_from_a_local_torchvision_state_dict(tmp_path, suffix):
    torch.manual_seed(1)
    reference = torchvision.models.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1])
    path = tmp_path / f"resnet10{suffix}"
    if suffix == ".pth":
        torch.save(reference.state_dict(), path)
    else:
        save_file(reference.state_dict(), path)
    model = small_bot(pretrained_path=path)
    torch.testing.assert_close(model.stem.conv1.weight, reference.conv1.weight)
    torch.testing.assert_close(model.body.layer4[0].conv2.weight, reference.layer4[0].conv2.weight)
    assert "pretrained_path" not in model.build_config()["options"]
    with pytest.raises(FileNotFoundError):
        small_bot(pretrained_path=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="not a torchvision resnet18 state dict"):
        build_model("bot", 3, arch="resnet18", pretrained_path=path)


def test_pretrained_backbone_is_taken_from_another_runs_model_folder(tmp_path):
    pretrained = small_bot(num_classes=9)  # a synthetic pre-training: other classes, same arch
    save_checkpoint(pretrained, tmp_path / "model", {"name": "pretrain"}, class_pids=list(range(9)))
    model = build_model("bot", 3, arch="resnet10", pretrained_path=tmp_path / "model")
    torch.testing.assert_close(model.stem.conv1.weight, pretrained.stem.conv1.weight)
    torch.testing.assert_close(model.body.layer3[0].conv1.weight,
                               pretrained.body.layer3[0].conv1.weight)
    assert model.num_classes == 3  # the head is new
    with pytest.raises(FileNotFoundError, match="not a ReID checkpoint"):
        build_model("bot", 3, arch="resnet10", pretrained_path=tmp_path)


@pytest.mark.parametrize("name, options", [
    ("bot", {"pooling": "gem"}), ("caj", {}), ("cal", {"num_clothes": 7})])
def test_checkpoint_round_trip_through_safetensors(tmp_path, name, options):
    torch.manual_seed(0)
    model = build_model(name, 5, arch="resnet10", **options)
    model(torch.randn(4, 3, 64, 32), torch.tensor([0, 1, 0, 1]))  # BN running statistics
    model.eval()
    save_checkpoint(model, tmp_path / "ckpt", {"dataset": "toy", "epoch": 3},
                    class_pids=[2, 3, 5, 7, 11])

    document = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert document["model"]["name"] == name and document["config"]["epoch"] == 3
    assert set(load_file(tmp_path / "ckpt" / "model.safetensors")) == set(model.state_dict())
    assert load_checkpoint_config(tmp_path / "ckpt")["config"] == {"dataset": "toy", "epoch": 3}
    assert checkpoint_class_pids(tmp_path / "ckpt") == [2, 3, 5, 7, 11]

    loaded = load_checkpoint(tmp_path / "ckpt")
    assert type(loaded) is type(model) and not loaded.training
    images, modalities = torch.randn(3, 3, 64, 32), torch.tensor([1, 0, 1])
    with torch.no_grad():
        torch.testing.assert_close(loaded(images, modalities, logits=True),
                                   model(images, modalities, logits=True))


def test_a_checkpoint_names_its_classes_or_says_it_does_not(tmp_path):
    model = small_bot(num_classes=3)
    with pytest.raises(ValueError, match="2 class pids for a model of 3 classes"):
        save_checkpoint(model, tmp_path / "bad", class_pids=[1, 2])
    save_checkpoint(model, tmp_path / "anonymous")
    with pytest.raises(ValueError, match="no `class_pids`"):
        checkpoint_class_pids(tmp_path / "anonymous")


def coloured_images(palette, per_id, generator):
    """32x16 images: a person whose top and bottom have the identity's two colours, on a random
    background colour (a nuisance an untrained net is misled by), plus noise."""
    pids = torch.arange(len(palette)).repeat_interleave(per_id)
    images = torch.rand(len(pids), 3, 1, 1, generator=generator).repeat(1, 1, 32, 16)
    images[:, :, 6:16, 5:11] = palette[pids, 0].view(-1, 3, 1, 1)
    images[:, :, 16:26, 5:11] = palette[pids, 1].view(-1, 3, 1, 1)
    images += 0.1 * torch.randn(images.shape, generator=generator)
    return (images - 0.5) / 0.25, pids


def rank1_cosine(query, query_pids, gallery, gallery_pids):
    similarity = F.normalize(query, dim=1) @ F.normalize(gallery, dim=1).t()
    return (gallery_pids[similarity.argmax(dim=1)] == query_pids).float().mean().item()


def test_tiny_bot_learns_separable_identities():
    generator = torch.Generator().manual_seed(0)
    palette = torch.rand(8, 2, 3, generator=generator)
    train_images, train_pids = coloured_images(palette, 8, generator)
    query, query_pids = coloured_images(palette, 2, generator)
    gallery, gallery_pids = coloured_images(palette, 4, generator)
    torch.manual_seed(0)
    model = BoT(8, arch="resnet10")
    with torch.no_grad():
        untrained = rank1_cosine(model.eval()(query, 0).features, query_pids,
                                 model(gallery, 0).features, gallery_pids)
    cross_entropy, triplet = CrossEntropyLabelSmooth(), TripletLoss(margin=0.3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sampler = PKSampler(train_pids.numpy(), p=4, k=4, seed=0)
    losses = []
    model.train()
    for epoch in range(12):
        sampler.set_epoch(epoch)
        for batch in sampler:
            output = model(train_images[batch], 0, logits=True)
            loss = (cross_entropy(output.logits, train_pids[batch])
                    + triplet(output.pooled, train_pids[batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert len(losses) == 48
    assert sum(losses[-4:]) < 0.5 * sum(losses[:4])
    model.eval()
    with torch.no_grad():
        trained = rank1_cosine(model(query, 0).features, query_pids,
                               model(gallery, 0).features, gallery_pids)
    assert untrained < 0.75 and trained >= 0.9
