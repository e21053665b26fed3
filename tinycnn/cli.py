"""The ``tinycnn`` command: train, evaluate, predict, summary, gradcam.

    tinycnn train [--quick] [--epochs N] [--members K] [--seed S] [--out RUN] [--resume] [--imbalance MODE]
    tinycnn evaluate --model RUN/model.npz [--out FOLDER]
    tinycnn predict IMAGE [IMAGE ...] --model RUN/model.npz
    tinycnn summary MODEL          (pneumonia_net, mobilenet_v1, efficientnet_b0, vgg_like or a .npz)
    tinycnn gradcam IMAGE --model RUN/model.npz -o out.png
"""

import argparse
import os
import sys
from dataclasses import replace


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def run_folder_config(model_path, description):
    """The TrainConfig of the run a model came from: its folder's config.json (every field
    checked), else what the model file records (seed, preprocessing), so the validation split
    is rebuilt exactly."""
    from .runs import TrainConfig, read_config

    folder = os.path.dirname(os.path.abspath(model_path))
    path = os.path.join(folder, "config.json")
    if os.path.exists(path):
        return replace(read_config(path), out_dir=folder)
    config = TrainConfig(out_dir=folder)
    for key in ("seed", "preprocessing", "model_kwargs", "members", "member"):
        if key in description:
            setattr(config, key, description[key])
    if "run_seed" in description:           # an ensemble member: its split is the run's
        config.seed = description["run_seed"]
    return config


def calibration_of(model_path):
    """(temperature, threshold) from the run's metrics.json (checked), or (1, 0.5) without one."""
    from .runs import read_calibration

    return read_calibration(os.path.dirname(os.path.abspath(model_path)))


def load_model_or_fail(path):
    from .runs import load_model

    try:
        return load_model(path)
    except FileNotFoundError as err:
        raise CommandError(str(err)) from None
    except ValueError as err:
        raise CommandError(f"cannot load model: {err}") from None


def read_image_or_fail(path, size):
    """The uint8 (size, size) grey X-ray in an image or DICOM file (``tinycnn.data.load_xray``).

    A file that cannot be read is a CommandError naming it. Warnings about an input unlike the
    training X-rays (tiny, coloured, odd grey levels, DICOM metadata) are printed on stderr,
    one line each, and the image is still used."""
    from .data import ImageReadError, load_xray

    try:
        xray = load_xray(path, size)
    except ImageReadError as err:
        raise CommandError(f"cannot read {path}: {err.reason}") from None
    for warning in xray.warnings:
        print(f"tinycnn: warning: {warning}", file=sys.stderr)
    return xray.pixels


def command_train(args):
    from .runs import make_config
    from .train import TrainingDiverged, train_and_evaluate

    config = make_config(args.quick, args.epochs, args.seed, args.out, args.imbalance, args.members)
    try:
        train_and_evaluate(config, resume=args.resume)
    except TrainingDiverged as err:
        raise CommandError(str(err)) from None


def command_evaluate(args):
    from .train import evaluate_run, prepare_data

    model, description = load_model_or_fail(args.model)
    config = run_folder_config(args.model, description)
    if args.out:
        config.out_dir = args.out
    evaluate_run(model, prepare_data(config), config)
    print(f"wrote metrics.json and figures to {config.out_dir}/")


def command_predict(args):
    from . import metrics
    from .data import CLASS_NAMES, preprocess
    from .runs import predict_logits

    model, description = load_model_or_fail(args.model)
    temperature, threshold = calibration_of(args.model)
    size = description["input_shape"][0]
    for path in args.images:
        pixels = read_image_or_fail(path, size)
        x = preprocess(pixels[None], description.get("preprocessing", "dataset"))
        logit = predict_logits(model, x)[0]
        probability = float(metrics.sigmoid(logit / temperature))
        label = CLASS_NAMES[int(probability >= threshold)]
        print(f"{path}: {label} (probability of pneumonia {probability:.3f}, threshold {threshold:.3f})")


def command_summary(args):
    from . import models
    from .summary import summary

    if args.model.endswith(".npz"):
        model, description = load_model_or_fail(args.model)
        input_shape = tuple(description["input_shape"])
    else:
        if args.model not in models.MODELS:
            raise CommandError(f"unknown model {args.model!r}: give a .npz file or one of {sorted(models.MODELS)}")
        model = models.build(args.model)
        input_shape = model.input_shape
    print(summary(model, input_shape))


def command_gradcam(args):
    from .cam import gradcam_figure_for_image

    model, description = load_model_or_fail(args.model)
    temperature, threshold = calibration_of(args.model)
    size = description["input_shape"][0]
    pixels = read_image_or_fail(args.image, size)
    out = gradcam_figure_for_image(model, pixels, args.output, temperature=temperature, threshold=threshold,
                                   title=os.path.basename(args.image),
                                   preprocessing=description.get("preprocessing", "dataset"))
    print(f"wrote {out}")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_train_arguments(parser):
    """The options of a training run (``tinycnn train`` and examples/train_pneumonia.py)."""
    from .runs import IMBALANCE_MODES

    parser.add_argument("--quick", action="store_true", help="small subset, 2 members, 2 epochs (smoke test)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a killed run from its checkpoints in --out, with the settings of its "
                             "config.json (an error if the folder holds no checkpoint or the settings differ)")
    parser.add_argument("--epochs", type=positive_int, help="number of epochs (default 12)")
    parser.add_argument("--members", type=positive_int,
                        help="networks in the ensemble, each trained from its own random start (default 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="run folder (default runs/pneumonia)")
    parser.add_argument("--imbalance", choices=IMBALANCE_MODES,
                        help="how to handle 74%% pneumonia in train (default pos_weight)")


def build_parser():
    parser = argparse.ArgumentParser(prog="tinycnn", description="tinycnn: CNNs from scratch in NumPy and Numba")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train the pneumonia detector")
    add_train_arguments(train)
    train.set_defaults(run=command_train)

    evaluate = sub.add_parser("evaluate", help="evaluate a trained model on the test split")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--out", help="folder for metrics and figures (default: the model's folder)")
    evaluate.set_defaults(run=command_evaluate)

    predict = sub.add_parser(
        "predict", help="probability of pneumonia for paediatric AP chest X-ray files",
        description="Probability of pneumonia for chest X-ray files. The model is for paediatric "
                    "anterior-posterior (AP) chest X-rays: it was trained on Kermany et al.'s images of "
                    "children aged 1 to 5, and its answer for anything else means little. Reads PNG and "
                    "TIFF (8- or 16-bit, float TIFF), JPEG and DICOM (pip install "
                    "\"tinycnn[dicom]\"); README.md, 'What tinycnn predict reads', says how bit depth, "
                    "windowing, MONOCHROME1, EXIF orientation and colour are handled. Inputs unlike "
                    "the training X-rays (tiny, coloured, odd grey levels) get a warning on stderr.")
    predict.add_argument("images", nargs="+", help="image files: .png .tif .jpeg ... or DICOM (.dcm)")
    predict.add_argument("--model", required=True)
    predict.set_defaults(run=command_predict)

    summary = sub.add_parser("summary", help="Keras-style summary of a model")
    summary.add_argument("model")
    summary.set_defaults(run=command_summary)

    gradcam = sub.add_parser("gradcam", help="Grad-CAM overlay for one X-ray")
    gradcam.add_argument("image")
    gradcam.add_argument("--model", required=True)
    gradcam.add_argument("-o", "--output", default="gradcam.png")
    gradcam.set_defaults(run=command_gradcam)
    return parser


def user_errors():
    """The exceptions that are the user's to fix (a bad argument, file or folder): printed as
    one line with exit status 2, by ``main`` and by examples/train_pneumonia.py."""
    from .data import PneumoniaDataError
    from .files import BadFileError
    from .runs import RunError

    return CommandError, OSError, PneumoniaDataError, RunError, BadFileError


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except user_errors() as err:
        print(f"tinycnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
