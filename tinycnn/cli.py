"""The ``tinycnn`` command (also ``python -m tinycnn``): train, evaluate, predict, summary, gradcam.

    tinycnn --version
    tinycnn train [--quick] [--epochs N] [--members K] [--seed S] [--out RUN] [--resume] [--imbalance MODE]
                  [--model NAME] [--image-size PX] [--preprocessing P] [--optimizer O] [--lr LR] ...
    tinycnn evaluate [--model RUN/model.npz] [--out FOLDER] [--overwrite]
    tinycnn predict IMAGE [IMAGE ...] [--model RUN/model.npz] [--json]
    tinycnn summary MODEL          (pneumonia_net, mobilenet_v1, efficientnet_b0, vgg_like or a .npz)
    tinycnn gradcam IMAGE [--model RUN/model.npz] [-o out.png|.jpg|.pdf|.svg ...]
    tinycnn export [MODEL.npz | --model MODEL.npz] [-o model.onnx]     (needs the [onnx] extra)

``--model`` defaults to ``runs/pneumonia/model.npz`` (``DEFAULT_MODEL``), where ``tinycnn
train`` puts it.  Exit status: 0 done; 1 ``predict`` scored the files it could read but at
least one could not be read (each named on stderr); 2 an error: a bad argument (the usage and
one error line, from argparse), a problem the user can fix (``user_errors``: a missing or
damaged model or run file, a folder in use, a bad setting) or a training that diverged, as
one line on stderr.
"""

import argparse
import os
import sys

#: where ``tinycnn train`` writes the model, and so what ``--model`` means when it is left out
DEFAULT_MODEL = os.path.join("runs", "pneumonia", "model.npz")

#: ``tinycnn predict``: some files could not be read (the others were scored)
EXIT_SOME_FILES_FAILED = 1
#: an error: a bad argument, model, run file, folder or setting, or a diverged training
EXIT_USER_ERROR = 2


class CommandError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


def version():
    """tinycnn's version: the installed distribution's, else the package's ``__version__``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version("tinycnn")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def calibration_of(model_path):
    """(temperature, threshold) from the run's metrics.json (checked), or (1, 0.5) without one."""
    from .runs import read_calibration

    folder = os.path.dirname(os.path.abspath(model_path))
    if not os.path.exists(os.path.join(folder, "metrics.json")):
        print(f"tinycnn: warning: no metrics.json next to {model_path}: using temperature 1 and "
              f"threshold 0.5, not a calibration fitted on validation", file=sys.stderr)
    return read_calibration(folder)


def load_model_or_fail(path):
    from .runs import load_model

    try:
        return load_model(path)
    except FileNotFoundError as err:
        hint = " (the default --model: train one with `tinycnn train` or give --model)" if path == DEFAULT_MODEL else ""
        raise CommandError(f"{err}{hint}") from None
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
    from .train import TrainingDiverged, train_and_evaluate

    config = train_config(args)
    try:
        train_and_evaluate(config, resume=args.resume, overwrite=args.overwrite)
    except TrainingDiverged as err:
        raise CommandError(str(err)) from None


def command_evaluate(args):
    """Evaluate the model on the test split, by default into a new RUN/evaluations/NNN
    (``runs.evaluation_folder``): the training run's metrics.json and figures stay as they are."""
    from .runs import evaluation_folder
    from .runs.config import check_images_fit_the_model, run_folder_config
    from .train import evaluate_run, prepare_data

    model, description = load_model_or_fail(args.model)
    config = run_folder_config(args.model, description)
    data = prepare_data(config)
    check_images_fit_the_model(data["x_val"].shape[1:], description, args.model, config)
    config.out_dir = evaluation_folder(config.out_dir, args.out, args.overwrite)   # created once all is checked
    evaluate_run(model, data, config)
    print(f"wrote metrics.json and figures to {config.out_dir}{os.sep}")


def command_predict(args):
    """Score every file that can be read (``runs.score_file``); each one that cannot is named
    on stderr and skipped (exit status 1).  ``--json``: one JSON list of the results on stdout."""
    import json

    from .runs import score_file

    model, description = load_model_or_fail(args.model)
    temperature, threshold = calibration_of(args.model)
    results = []
    for path in args.images:
        result = score_file(model, description, path, temperature, threshold)
        results.append(result)
        for warning in result["warnings"]:
            print(f"tinycnn: warning: {warning}", file=sys.stderr)
        if result["error"]:
            print(f"tinycnn predict: error: cannot read {path}: {result['error']} (skipped)", file=sys.stderr)
        elif not args.json:
            print(f"{path}: {result['label']} (probability of pneumonia {result['probability']:.3f}, "
                  f"threshold {threshold:.3f})", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return EXIT_SOME_FILES_FAILED if any(result["error"] for result in results) else 0


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
    from .plots.figure import figure_format

    try:
        figure_format(args.output)          # refused before the model is loaded
    except ValueError as err:
        raise CommandError(f"-o: {err}") from None
    model, description = load_model_or_fail(args.model)
    temperature, threshold = calibration_of(args.model)
    size = description["input_shape"][0]
    pixels = read_image_or_fail(args.image, size)
    out = gradcam_figure_for_image(model, pixels, args.output, temperature=temperature, threshold=threshold,
                                   title=os.path.basename(args.image),
                                   preprocessing=description.get("preprocessing", "dataset"))
    print(f"wrote {out}")


def export_model_path(args):
    """The model file of ``tinycnn export``: MODEL.npz or --model (the same thing), else DEFAULT_MODEL."""
    if args.model and args.model_option and args.model != args.model_option:
        raise CommandError(f"two model files given, {args.model} and --model {args.model_option}; give one")
    return args.model or args.model_option or DEFAULT_MODEL


def command_export(args):
    """The model file as an ONNX graph (``tinycnn.export.to_onnx``), with the run's preprocessing,
    temperature and threshold in its metadata_props, so onnxruntime can reproduce ``predict``."""
    from .data import CLASS_NAMES
    from .export import INPUT_NAME, OUTPUT_NAME, import_onnx, to_onnx

    try:
        import_onnx()
    except ImportError as err:
        raise CommandError(str(err)) from None
    model_path = export_model_path(args)
    output = args.output or os.path.splitext(model_path)[0] + ".onnx"
    if not output.lower().endswith(".onnx"):       # never the model file itself, nor another kind
        raise CommandError(f"-o/--output must name an .onnx file, got {output!r}")
    model, description = load_model_or_fail(model_path)
    temperature, threshold = calibration_of(model_path)
    preprocessing = description.get("preprocessing", "dataset")
    to_onnx(model, output, description["input_shape"], preprocessing=preprocessing, temperature=temperature,
            threshold=threshold, metadata={"class_names": ",".join(CLASS_NAMES), "source_model": model_path,
                                           "architecture": description["model"],
                                           "members": str(description["members"]),
                                           "tinycnn_version": version()})
    print(f"wrote {output}: input {INPUT_NAME} float32 (N, {', '.join(map(str, description['input_shape']))}) "
          f"NHWC, output {OUTPUT_NAME} (N, 1); metadata_props: preprocessing {preprocessing}, "
          f"temperature {temperature:.4g}, threshold {threshold:.4g}")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


#: the options of ``add_train_arguments`` that set the TrainConfig field of their name (--image-size: image_size)
TRAIN_SETTINGS = ("model", "image_size", "preprocessing", "optimizer", "lr", "lr_schedule", "weight_decay",
                  "batch_size", "augment", "select_on", "corruption", "calibrate_on")


def train_config(args):
    """The checked TrainConfig of the parsed ``add_train_arguments`` options; one left out keeps its default."""
    from .runs import make_config

    return make_config(args.quick, args.epochs, args.seed, args.out, args.imbalance, args.members,
                       **{name: getattr(args, name) for name in TRAIN_SETTINGS})


def add_train_arguments(parser):
    """The options of a training run (``tinycnn train`` and examples/train_pneumonia.py)."""
    from . import models
    from .runs import IMBALANCE_MODES, OPTIMIZERS, PREPROCESSING_METHODS
    from .runs.config import CALIBRATION_SETS, LR_SCHEDULES, SELECTION_METRICS

    parser.add_argument("--quick", action="store_true", help="small subset, 2 members, 2 epochs (smoke test)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a killed run from its checkpoints in --out; give the same settings as "
                             "that run (an error if the folder holds no checkpoint or its config.json differs)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier run in --out (its model.npz, metrics.json and checkpoints are "
                             "removed first); without it, training into a folder that holds a run is an error")
    parser.add_argument("--epochs", type=positive_int, help="number of epochs (default 12)")
    parser.add_argument("--members", type=positive_int,
                        help="networks in the ensemble, each trained from its own random start (default 4)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the validation split and of member 0 (member k: seed + 1000 k; default 0)")
    parser.add_argument("--out", help="run folder (default runs/pneumonia)")
    parser.add_argument("--imbalance", choices=IMBALANCE_MODES,
                        help="how to handle 74%% pneumonia in train (default pos_weight)")
    parser.add_argument("--model", choices=sorted(models.MODELS),
                        help="the network to train, by its zoo name (default pneumonia_net)")
    parser.add_argument("--image-size", type=int, metavar="PX", help="resize the X-rays to PX x PX (default 64)")
    parser.add_argument("--preprocessing", choices=PREPROCESSING_METHODS,
                        help="pixels to input: per_image (default), dataset or unit (x / 255)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="the optimizer (default adamw)")
    parser.add_argument("--lr", type=float, help="the (peak) learning rate (default 0.003)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="cosine (default: warm-up, decay to 0) or constant")
    parser.add_argument("--weight-decay", type=float, help="the optimizer's weight decay (default 1e-4)")
    parser.add_argument("--batch-size", type=positive_int, help="images per training batch (default 64)")
    parser.add_argument("--no-augment", dest="augment", action="store_const", const=False,
                        help="train without augmentation (default: small rotations, shifts, zooms, brightness)")
    parser.add_argument("--select-on", choices=SELECTION_METRICS,
                        help="the epoch kept: highest val_auc (default) or lowest val_loss")
    parser.add_argument("--corruption", type=float, metavar="P",
                        help="share of training images given an acquisition corruption each epoch (default 0.5)")
    parser.add_argument("--calibrate-on", choices=CALIBRATION_SETS,
                        help="fit temperature and threshold on shifted_val (default) or val images")


def add_model_argument(parser, what):
    """``--model``, by default ``DEFAULT_MODEL`` (where ``tinycnn train`` writes it)."""
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="MODEL.npz",
                        help=f"the model file {what} (default {DEFAULT_MODEL}, where tinycnn train writes it)")


def add_evaluate_command(sub):
    """``tinycnn evaluate``: into a new RUN/evaluations/NNN unless --out or --overwrite."""
    evaluate = sub.add_parser(
        "evaluate", help="evaluate a trained model on the test split",
        description="Fit temperature and threshold on the run's validation split, evaluate the test split once, "
                    "and write metrics.json and the figures to a new folder RUN/evaluations/NNN (RUN: the "
                    "model's folder): the training run's own metrics.json and figures are left as they are.")
    add_model_argument(evaluate, "to evaluate")
    evaluate.add_argument("--out", metavar="FOLDER",
                          help="folder for metrics.json and the figures (default: a new RUN/evaluations/NNN); "
                               "one that already holds a metrics.json needs --overwrite")
    evaluate.add_argument("--overwrite", action="store_true",
                          help="replace the metrics.json and figures already in --out, or without --out those "
                               "of the training run itself (refused while a training holds its folder)")
    evaluate.set_defaults(run=command_evaluate)


def add_predict_command(sub):
    """``tinycnn predict``: every readable file scored, the others skipped; --json."""
    predict = sub.add_parser(
        "predict", help="probability of pneumonia for paediatric AP chest X-ray files",
        description="Probability of pneumonia for chest X-ray files. The model is for paediatric "
                    "anterior-posterior (AP) chest X-rays: it was trained on Kermany et al.'s images of "
                    "children aged 1 to 5, and its answer for anything else means little. Reads PNG and "
                    "TIFF (8- or 16-bit, float TIFF), JPEG and DICOM (pip install "
                    "\"tinycnn[dicom]\"); README.md, 'What tinycnn predict reads', says how bit depth, "
                    "windowing, MONOCHROME1, EXIF orientation and colour are handled. Inputs unlike "
                    "the training X-rays (tiny, coloured, odd grey levels) get a warning on stderr.")
    predict.add_argument("images", nargs="+", metavar="IMAGE",
                         help="image files: .png .tif .jpeg ... or DICOM (.dcm); one that cannot be read is "
                              "named on stderr and skipped, the others are still scored (exit status 1)")
    add_model_argument(predict, "that scores them")
    predict.add_argument("--json", action="store_true",
                         help="print one JSON list instead of a line per file: {file, probability, label, "
                              "threshold, temperature, warnings, error} for each (error null when it was read, "
                              "probability and label null when not)")
    predict.set_defaults(run=command_predict)


def add_gradcam_command(sub):
    """``tinycnn gradcam``: one X-ray's Grad-CAM figure, in the format of -o's extension."""
    gradcam = sub.add_parser("gradcam", help="Grad-CAM overlay for one X-ray")
    gradcam.add_argument("image", metavar="IMAGE", help="the X-ray file (the formats tinycnn predict reads)")
    add_model_argument(gradcam, "to explain")
    gradcam.add_argument("-o", "--output", default="gradcam.png", metavar="FIGURE",
                         help="the figure to write, in the format its extension names: .png, .jpg/.jpeg, .pdf, "
                              ".svg, .tif, .webp ... (default gradcam.png)")
    gradcam.set_defaults(run=command_gradcam)


def build_parser():
    """The ``tinycnn`` argument parser: every subcommand, every argument with its help."""
    parser = argparse.ArgumentParser(prog="tinycnn", description="tinycnn: CNNs from scratch in NumPy and Numba",
                                     epilog="Exit status: 0 done, 1 predict could not read some of the files "
                                            "(the others were scored), 2 an error: a bad argument, model, run "
                                            "file or folder, or a training that diverged (one line on stderr).")
    parser.add_argument("--version", action="version", version=f"tinycnn {version()}",
                        help="print tinycnn's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="train, evaluate, predict, summary, gradcam or export (tinycnn COMMAND -h "
                                     "for its options)")

    train = sub.add_parser("train", help="train the pneumonia detector")
    add_train_arguments(train)
    train.set_defaults(run=command_train)

    add_evaluate_command(sub)
    add_predict_command(sub)

    summary = sub.add_parser("summary", help="Keras-style summary of a model")
    summary.add_argument("model", metavar="MODEL",
                         help="a model file (.npz) or a network's name: pneumonia_net, mobilenet_v1, "
                              "efficientnet_b0, vgg_like, ...")
    summary.set_defaults(run=command_summary)

    add_gradcam_command(sub)

    export = sub.add_parser(
        "export", help="write a model file as ONNX, to run it with onnxruntime",
        description="Write a model file as an ONNX graph (needs pip install \"tinycnn[onnx]\"): input "
                    "x_nhwc, float32 (N, H, W, C) images in tinycnn's layout, output the logits; the run's "
                    "preprocessing, temperature and threshold go into its metadata_props. README.md, 'Run "
                    "the exported detector with onnxruntime', shows how to use it.")
    export.add_argument("model", nargs="?", metavar="MODEL.npz",
                        help=f"the model file to export (default {DEFAULT_MODEL})")
    export.add_argument("--model", dest="model_option", metavar="MODEL.npz",
                        help="the same as MODEL.npz, as the other commands spell it")
    export.add_argument("-o", "--output", metavar="OUT.onnx",
                        help="the ONNX file to write (default: the model file's name with .onnx)")
    export.set_defaults(run=command_export)
    return parser


def user_errors():
    """The exceptions that are the user's to fix (a bad argument, file or folder): printed as
    one line with exit status 2, by ``main`` and by examples/train_pneumonia.py."""
    from .data import PneumoniaDataError
    from .files import BadFileError
    from .runs import RunError

    return CommandError, OSError, PneumoniaDataError, RunError, BadFileError


def main(argv=None):
    """Run ``tinycnn ARGV``; returns the exit status (0, ``EXIT_SOME_FILES_FAILED`` or
    ``EXIT_USER_ERROR``; argparse exits with 2 itself for a bad argument)."""
    args = build_parser().parse_args(argv)
    try:
        status = args.run(args)
    except user_errors() as err:
        print(f"tinycnn {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
