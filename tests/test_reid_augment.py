import pytest
import torch
from PIL import Image

from factory.reid.augment import (
    CAJ_ERASE_FILL,
    GRAY_WEIGHTS,
    ChannelAdapGray,
    ChannelExchange,
    caj_train_transforms,
    crop_padding,
    reid_test_transform,
    reid_train_transform,
)

torch.set_num_threads(2)


def random_uint8_image(height=100, width=50, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)


def gray_of(image):
    return sum(w * image[c] for c, w in enumerate(GRAY_WEIGHTS))


def test_train_transform_outputs_normalised_tensors_from_pil_and_tensors():
    transform = reid_train_transform((64, 32))
    torch.manual_seed(0)
    from_tensor = transform(random_uint8_image())
    from_pil = transform(Image.new("RGB", (50, 100), (200, 30, 90)))
    for output in (from_tensor, from_pil):
        assert type(output) is torch.Tensor
        assert output.shape == (3, 64, 32) and output.dtype == torch.float32


def test_train_transform_without_randomness_equals_the_test_transform():
    image = random_uint8_image()
    plain = reid_train_transform((64, 32), flip_p=0.0, padding=0, erase_p=0.0)
    torch.testing.assert_close(plain(image), reid_test_transform((64, 32))(image))


def test_crop_padding_is_the_published_10_pixels_at_published_sizes_and_in_proportion_below():
    assert crop_padding((256, 128)) == crop_padding((288, 144)) == crop_padding((384, 192)) == 10
    assert crop_padding((128, 64)) == 5 and crop_padding((64, 32)) == 2


@pytest.mark.parametrize("size", [(64, 32), (256, 128)])
def test_the_random_crop_moves_a_person_by_at_most_the_scaled_pad(size):
    """A one-pixel dot in the middle never lands more than crop_padding(size) pixels away."""
    height, width = size
    image = torch.zeros((3, height, width), dtype=torch.uint8)
    image[:, height // 2, width // 2] = 255
    transform = reid_train_transform(size, flip_p=0.0, erase_p=0.0)
    torch.manual_seed(0)
    shifts = set()
    for _ in range(200):
        rows, cols = torch.nonzero(transform(image)[0] > 0, as_tuple=True)
        if len(rows):
            shifts.add((int(rows[0]) - height // 2, int(cols[0]) - width // 2))
    reach = max(max(abs(dy), abs(dx)) for dy, dx in shifts)
    assert reach == crop_padding(size)


def test_random_erasing_fills_a_rectangle_with_the_given_values():
    image = torch.full((3, 64, 32), 255, dtype=torch.uint8)
    transform = reid_train_transform((64, 32), flip_p=0.0, padding=0, erase_p=1.0,
                                     erase_fill=CAJ_ERASE_FILL)
    torch.manual_seed(0)
    output = transform(image)
    erased = (output[0] == CAJ_ERASE_FILL[0])
    assert 0.02 * 64 * 32 <= erased.sum() <= 0.4 * 64 * 32 + 64
    for channel, value in enumerate(CAJ_ERASE_FILL):
        assert torch.all(output[channel][erased] == value)
    rows, cols = torch.nonzero(erased, as_tuple=True)
    assert erased[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # a rectangle


def test_channel_exchange_copies_one_channel_and_never_grays_with_gray_2():
    image = torch.randn(3, 8, 4)
    original = image.clone()
    torch.manual_seed(0)
    seen = set()
    for _ in range(60):
        output = ChannelExchange(gray=2)(image)
        source = [c for c in range(3) if torch.equal(output, image[c].expand(3, -1, -1))]
        assert len(source) == 1
        seen.add(source[0])
    assert seen == {0, 1, 2}
    assert torch.equal(image, original)  # not modified in place


def test_channel_exchange_with_gray_3_sometimes_grays():
    image = torch.randn(3, 8, 4)
    torch.manual_seed(0)
    outputs = [ChannelExchange(gray=3)(image) for _ in range(60)]
    gray = gray_of(image).expand(3, -1, -1)
    assert any(torch.allclose(output, gray) for output in outputs)


def test_channel_adap_gray_replicates_grays_or_keeps():
    image = torch.randn(3, 8, 4)
    gray = gray_of(image).expand(3, -1, -1)
    channels = [image[c].expand(3, -1, -1) for c in range(3)]
    torch.manual_seed(0)
    always = [ChannelAdapGray(p=1.0)(image) for _ in range(60)]
    never = [ChannelAdapGray(p=0.0)(image) for _ in range(60)]
    assert any(torch.allclose(output, gray) for output in always)
    assert not any(torch.equal(output, image) for output in always)
    assert any(torch.equal(output, image) for output in never)
    assert not any(torch.allclose(output, gray) for output in never)
    for output in always + never:
        assert (torch.allclose(output, gray) or torch.equal(output, image)
                or any(torch.equal(output, channel) for channel in channels))


def test_channel_transforms_reject_non_rgb():
    with pytest.raises(ValueError, match="3, H, W"):
        ChannelExchange()(torch.randn(1, 8, 4))


def test_caj_train_transforms_give_three_pipelines():
    transforms = caj_train_transforms((64, 32))
    torch.manual_seed(0)
    image = random_uint8_image()
    for transform in transforms:
        assert transform(image).shape == (3, 64, 32)
    exchanged = transforms.visible_exchanged(image)
    assert torch.equal(exchanged[0], exchanged[1]) and torch.equal(exchanged[1], exchanged[2])
