"""Stream an export's WebDataset shards (`factory export --shards N`) into a ReID training loop.

    python examples/train_from_shards.py EXPORT [--steps 100] [--batch-size 64] [--workers 4]

EXPORT is the export folder or its `s3://` / `gs://` prefix: the shards are read as streams,
never copied whole. Each DataLoader worker reads its own shards (`ShardStream` splits them by
Ray Train rank and worker), a shuffle buffer mixes identities, and a BoT model learns identity
cross-entropy plus batch-hard triplet. Under Ray Train, pass `rank=ray.train.get_context()
.get_world_rank()` and `world_size=...get_world_size()` to `ShardStream` and call `set_epoch`
each epoch.
"""

import argparse
import io

import torch
from PIL import Image

from factory.export.shards import ShardStream
from factory.reid.augment import reid_train_transform
from factory.reid.losses import TripletLoss
from factory.reid.models import build_model


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="export folder or prefix holding webdataset/")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 128), metavar=("H", "W"))
    parser.add_argument("--arch", default="resnet50")
    args = parser.parse_args(argv)

    augment = reid_train_transform(tuple(args.size))

    def transform(jpeg: bytes) -> torch.Tensor:
        with Image.open(io.BytesIO(jpeg)) as image:
            return augment(image.convert("RGB"))

    stream = ShardStream(f"{args.export}/webdataset", transform, shuffle=4 * args.batch_size)
    loader = torch.utils.data.DataLoader(stream, batch_size=args.batch_size,
                                         num_workers=args.workers, drop_last=False)
    model = build_model("bot", stream.num_classes, arch=args.arch)
    triplet, cross_entropy = TripletLoss(0.3), torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=3.5e-4)
    model.train()
    step, epoch, loss = 0, 0, torch.tensor(float("nan"))
    while step < args.steps:
        stream.set_epoch(epoch)
        for images, labels in loader:
            output = model(images, 0, logits=True)
            loss = cross_entropy(output.logits, labels) + triplet(output.pooled, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            print(f"epoch {epoch} step {step}: loss {loss.item():.3f}", flush=True)
            if step == args.steps:
                break
        epoch += 1
    return loss.item()


if __name__ == "__main__":
    main()
