"""Training a pneumonia detector: data split, training loop, checkpoints, evaluation, figures.

The pieces, in the order a run uses them:

1. ``prepare_data``: load the X-rays, carve a validation split out of train *grouped by
   patient* (one child's images never sit on both sides), standardise each image.
2. ``fit``: a deep ensemble of ``members`` networks (default 4), each trained by
   ``fit_one``: mini-batch training with AdamW (or SGD / Adam), a cosine schedule with warm-up,
   class imbalance handled by ``pos_weight`` in the loss (or class-balanced batches),
   X-ray augmentation (optionally after acquisition-style corruptions of the uint8 images,
   ``corruption``), validation AUC every epoch, the best epoch kept (highest validation AUC,
   or lowest validation loss with ``select_on="val_loss"``), a checkpoint
   written atomically after every epoch (``resume=True`` continues a killed run and ends
   with the same weights), and a clear stop when the loss becomes NaN or inf.  Member k
   uses seed ``seed + 1000 k`` for its weights, batch order and augmentation; all members
   share the validation split of ``seed``, so member 0 is exactly the single network of
   ``members=1``.  The ensemble's logit is the mean of the members' logits.
3. ``evaluate_run``: temperature scaling and the decision threshold are fitted on
   validation only (its images, or with ``calibrate_on="shifted_val"`` their shift-simulated
   copies, ``data.shifted_validation``); the test split is used once, at the end, for the
   metrics with bootstrap confidence intervals and the figures.

Randomness is derived from ``(member seed, epoch)`` at the start of every epoch (batch order,
augmentation, dropout), so a resumed run draws exactly what an uninterrupted one would.
"""

import glob
import json
import math
import os
import time
from dataclasses import asdict, replace

import numpy as np

from . import functional as F
from . import metrics, plots
from .data import (augment_xray, corrupt_batch, grouped_stratified_split, load_pneumonia, load_pneumonia_folder,
                   minibatch_indices, preprocess, shifted_validation)
from .files import atomic_savez, atomic_write_json, atomic_write_text, remove_temp_files
from .models import member_seed
from .nn import Ensemble
from .nn.precise_bn import refresh_batch_norm_statistics
from .optim import SGD, Adam, AdamW, cosine_with_warmup
from .progress import Progress
from .runs import (RunLock, build_network, check_both_classes, check_can_start, check_same_run, check_training_data,
                   checkpoint_arrays, clear_earlier_run, load_model, predict_logits, read_checkpoint, save_model)
from .runs.calibration import fit_calibration
from .runs.config import best_epoch_index
# Moved to tinycnn.runs; re-exported here for one release (import them from tinycnn.runs):
from .runs import TrainConfig, make_config, read_calibration  # noqa: F401,E402
from .runs import build_network as build_model  # noqa: F401,E402
from .tensor import Tensor


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the last good checkpoint is left in place."""


# ----------------------------------------------------------------------------- data


def load_data(path):
    """The X-rays at ``path``: an .npz like the shipped one ("" = the shipped one) or a
    chest_xray/ folder of JPEG/PNG files (``load_pneumonia_folder``)."""
    if path and os.path.isdir(path):
        return load_pneumonia_folder(path)
    return load_pneumonia(path or None)


def prepare_data(config):
    """Load, resize (``image_size``), split (patient-grouped, stratified, seeded) and normalise the
    X-rays; also the uint8 training images (for ``corruption``) and the shift-simulated validation set.

    Each split must hold both classes (checked before the split and after it)."""
    data = load_data(config.data_path).resized(config.image_size)
    check_both_classes(f"training images of {data.source}", data.y_train)
    check_both_classes(f"test images of {data.source}", data.y_test)
    train_idx, val_idx = grouped_stratified_split(data.files_train, data.y_train,
                                                  config.val_fraction, seed=config.seed)
    if config.subset:
        rng = np.random.default_rng(config.seed)
        train_idx = np.sort(rng.choice(train_idx, min(config.subset, len(train_idx)), replace=False))
        val_idx = np.sort(rng.choice(val_idx, min(max(config.subset // 4, 64), len(val_idx)), replace=False))
    check_both_classes(f"training split (seed {config.seed}, subset {config.subset})", data.y_train[train_idx])
    check_both_classes(f"validation split (val_fraction {config.val_fraction}, seed {config.seed})",
                       data.y_train[val_idx])
    method = config.preprocessing
    return {
        "x_train": preprocess(data.x_train[train_idx], method), "y_train": data.y_train[train_idx].astype(np.float32),
        "x_val": preprocess(data.x_train[val_idx], method), "y_val": data.y_train[val_idx].astype(np.float32),
        "x_test": preprocess(data.x_test, method), "y_test": data.y_test.astype(np.float32),
        "files_val": data.files_train[val_idx], "files_test": data.files_test,
        "x_test_uint8": data.x_test, "x_train_uint8": data.x_train[train_idx],
        "x_val_shifted": preprocess(shifted_validation(data.x_train[val_idx], config.seed), method),
    }


def start_run(config, resume, print_fn, overwrite=False):
    """In the locked run folder: the same-run check of a resume, the temporary files a killed
    run left, and (a new run) an earlier run in the folder: refused, or with ``overwrite`` removed."""
    out = config.out_dir
    if resume:
        check_same_run(out, config)
    for folder in [out] + sorted(glob.glob(os.path.join(out, "member*"))):
        removed = remove_temp_files(folder)
        if removed:
            print_fn(f"removed {len(removed)} temporary file(s) a killed run left in {folder}: {', '.join(removed)}")
    if not resume:
        clear_earlier_run(out, overwrite, print_fn)


# ----------------------------------------------------------------------------- training


def make_optimizer(config, params):
    if config.optimizer == "adamw":
        return AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; choose adamw, adam or sgd")


def reseed_dropout(model, seed, epoch):
    """Give every dropout layer a generator derived from (seed, epoch, layer number)."""
    for number, module in enumerate(model.modules()):
        if hasattr(module, "rate") and hasattr(module, "rng"):
            module.rng = np.random.default_rng([seed, epoch, number, 7])


def train_one_epoch(model, optimizer, data, config, epoch, step, total_steps, pos_weight, progress):
    """One pass over the training batches; returns (mean loss, next global step)."""
    seed = member_seed(config.seed, config.member)
    rng = np.random.default_rng([seed, epoch])
    reseed_dropout(model, seed, epoch)
    model.train()
    batches = list(minibatch_indices(data["y_train"].astype(np.int64), config.batch_size, shuffle=True,
                                     rng=rng, drop_last=True,
                                     balanced=config.imbalance == "balanced_batches"))
    warmup_steps = int(config.warmup_epochs * len(batches))
    losses = []
    progress.start_epoch(epoch, config.epochs, len(batches))
    for number, idx in enumerate(batches, 1):
        xb, yb = data["x_train"][idx], data["y_train"][idx]
        if config.corruption > 0:      # corrupt the uint8 images, then preprocess them as all the others
            xb = preprocess(corrupt_batch(data["x_train_uint8"][idx], rng, config.corruption), config.preprocessing)
        if config.augment:
            xb = augment_xray(xb, rng, brightness=config.brightness, contrast=config.contrast)
        optimizer.lr = (config.lr if config.lr_schedule == "constant"
                        else cosine_with_warmup(step, total_steps, config.lr, warmup_steps))
        optimizer.zero_grad()
        logits = model(Tensor(xb)).reshape(-1)
        if not np.all(np.isfinite(logits.data)):
            raise TrainingDiverged(f"the model's outputs (and so the loss) became NaN or inf at epoch {epoch}, "
                                   f"batch {number}: training stopped; the last good checkpoint was kept")
        loss = F.binary_cross_entropy_with_logits(logits, yb, pos_weight=pos_weight)
        if not math.isfinite(loss.item()):
            raise TrainingDiverged(f"the loss became {loss.item()} at epoch {epoch}, batch {number}: "
                                   "training stopped; the last good checkpoint was kept")
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        progress.batch(number, float(np.mean(losses[-20:])), len(idx))
    return float(np.mean(losses)), step


def fit(config, data=None, resume=False, print_fn=print, overwrite=False):
    """Train the ensemble; returns (model, one history per member, run folder).

    With ``members == 1`` this is ``fit_one`` in the run folder.  Otherwise member k trains
    in ``RUN/member{k}/`` (its own checkpoints, so ``resume`` skips finished members and
    continues the one that was killed) and the ensemble is saved as ``RUN/model.npz``.

    Before anything is written: the configuration and the data are checked, a resume needs
    a checkpoint in the folder and the same configuration as its config.json, and the folder
    is locked against a second writer (``runs.RunLock``).
    """
    check_can_start(config, resume)
    data = prepare_data(config) if data is None else data
    check_training_data(data, config)
    with RunLock(config.out_dir, print_fn):
        start_run(config, resume, print_fn, overwrite)
        if config.members == 1:
            model, history, out = fit_one(config, data, resume, print_fn)
            return model, [history], out
        return fit_ensemble(config, data, resume, print_fn)


def fit_ensemble(config, data, resume, print_fn):
    """``fit`` for members > 1: each member in its own folder, then the ensemble's model file."""
    out = config.out_dir
    atomic_write_text(os.path.join(out, "config.json"), json.dumps(asdict(config), indent=2))
    members, histories = [], []
    progress = Progress(print_fn, total_epochs=config.members * config.epochs)
    for k in range(config.members):
        name = plots.training.member_name(k)   # as the folder, Ensemble's child and the figures' legends
        member_config = replace(config, members=1, member=k, out_dir=os.path.join(out, name))
        tag = f"[{name} of {config.members}] "
        progress.prefix = tag
        model, history, _ = fit_one(member_config, data, resume, lambda line, tag=tag: print_fn(tag + line),
                                    progress)
        members.append(model)
        histories.append(history)
        progress.prefix = ""
        best_auc = history["val_auc"][best_epoch_index(history, config.select_on)]   # its model.npz's epoch
        print_fn(f"{name} of {config.members} done (val AUC {best_auc:.4f} at the best epoch); {progress.eta()}")
    ensemble = Ensemble(members).eval()
    val_auc = metrics.roc_auc(data["y_val"], predict_logits(ensemble, data["x_val"]))
    member_aucs = [round(h["val_auc"][best_epoch_index(h, config.select_on)], 4) for h in histories]
    save_model(os.path.join(out, "model.npz"), ensemble, config.model, data["x_train"].shape[1:], config.seed,
               config.model_kwargs, {"val_auc": val_auc, "member_val_auc": member_aucs,
                                     "preprocessing": config.preprocessing})
    print_fn(f"ensemble of {config.members}: val AUC {val_auc:.4f} (members {', '.join(map(str, member_aucs))})")
    return ensemble, histories, out


def new_progress():
    """(first epoch, global step, history, best) at the start of a run."""
    history = {"epoch": [], "train_loss": [], "val_loss": [], "val_auc": [], "lr": [], "seconds": []}
    return 1, 0, history, {"epoch": 0, "val_auc": -1.0}


def resume_from_checkpoint(config, model, optimizer, steps_per_epoch, print_fn):
    """``new_progress()`` continued from ``config.out_dir``'s checkpoint, after checking it is
    this run's (config.json and the checkpoint itself); a new start when there is none."""
    checkpoint = os.path.join(config.out_dir, "checkpoint.npz")
    if not os.path.exists(checkpoint):
        return new_progress()
    check_same_run(config.out_dir, config)
    state = read_checkpoint(checkpoint, model, optimizer, config.epochs, steps_per_epoch)
    print_fn(f"resumed from {checkpoint} after epoch {state['epoch']}")
    return state["epoch"] + 1, state["step"], state["history"], state["best"]


def fit_one(config, data, resume=False, print_fn=print, progress=None):
    """Train one network; returns (the network at the epoch ``config.select_on`` picks, history, run folder).

    ``progress``: the ``Progress`` of the whole run (an ensemble's: its ETAs count every
    member's epochs); by default one for this network's epochs alone."""
    out = config.out_dir
    seed = member_seed(config.seed, config.member)
    os.makedirs(out, exist_ok=True)
    input_shape = data["x_train"].shape[1:]
    model = build_network(config.model, input_shape, seed, **config.model_kwargs)
    optimizer = make_optimizer(config, model.parameters())
    n_pos = float(data["y_train"].sum())
    pos_weight = (len(data["y_train"]) - n_pos) / n_pos if config.imbalance == "pos_weight" else None
    steps_per_epoch = len(data["y_train"]) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    first_epoch, step, history, best = new_progress()
    if resume:
        first_epoch, step, history, best = resume_from_checkpoint(config, model, optimizer, steps_per_epoch,
                                                                  print_fn)
    atomic_write_text(os.path.join(out, "config.json"), json.dumps(asdict(config), indent=2))
    checkpoint = os.path.join(out, "checkpoint.npz")

    print_fn(f"training {config.model} ({model.count_params():,} params) "
             f"on {len(data['y_train'])} images, validating on {len(data['y_val'])}; "
             f"{steps_per_epoch} batches of {config.batch_size} per epoch")
    progress = Progress(print_fn, total_epochs=config.epochs) if progress is None else progress
    progress.skip_epochs(first_epoch - 1)
    for epoch in range(first_epoch, config.epochs + 1):
        start = time.perf_counter()
        train_loss, step = train_one_epoch(model, optimizer, data, config, epoch, step, total_steps,
                                           pos_weight, progress)
        refresh_batch_norm_statistics(model, data["x_train"], seed=seed)
        val_logits = predict_logits(model, data["x_val"])
        val_loss = F.binary_cross_entropy_with_logits(Tensor(val_logits), data["y_val"], pos_weight).item()
        val_auc = metrics.roc_auc(data["y_val"], val_logits)
        seconds = time.perf_counter() - start
        for key, value in (("epoch", epoch), ("train_loss", train_loss), ("val_loss", val_loss),
                           ("val_auc", val_auc), ("lr", optimizer.lr), ("seconds", seconds)):
            history[key].append(value)
        improved = best_epoch_index(history, config.select_on) == len(history["epoch"]) - 1
        if improved:
            best = {"epoch": epoch, "val_auc": val_auc}
            save_model(os.path.join(out, "model.npz"), model, config.model, input_shape, seed,
                       config.model_kwargs, {"epoch": epoch, "val_auc": val_auc, "run_seed": config.seed,
                                             "member": config.member, "preprocessing": config.preprocessing})
        atomic_savez(checkpoint, checkpoint_arrays(model, optimizer, epoch, step, history, best))
        progress.end_epoch()
        print_fn(f"epoch {epoch}/{config.epochs}: train loss {train_loss:.4f}, val loss {val_loss:.4f}, "
                 f"val AUC {val_auc:.4f}{' (best)' if improved else ''}, {seconds:.0f}s; {progress.eta()}")
    best_model, _ = load_model(os.path.join(out, "model.npz"))
    return best_model, history, out


# ----------------------------------------------------------------------------- evaluation


def evaluate_run(model, data, config, histories=None, print_fn=print):
    """Fit temperature and threshold on validation, evaluate test once, write metrics and figures.

    ``histories``: one training history per member (for the training-curves figure).  For an
    ensemble the report also gives each member's own validation and test AUC, so the gain of
    averaging can be read off; nothing is chosen with them.  The output folder is locked
    while it is written (``runs.RunLock``).
    """
    out = config.out_dir
    check_both_classes("validation split", data["y_val"])
    check_both_classes("test split", data["y_test"])
    with RunLock(out, print_fn):
        report, probabilities = test_report(model, data, config)
        write_figures(out, data, histories, report, probabilities)
        atomic_write_json(os.path.join(out, "metrics.json"), report)
    print_fn(summarise(report))
    return report


def test_report(model, data, config):
    """(metrics report, {split: (labels, probabilities before, after temperature)}) for "val",
    "shifted_val" (when ``data`` has it) and "test"."""
    logits = {"val": predict_logits(model, data["x_val"])}
    if "x_val_shifted" in data:                      # as fit_calibration predicts them, for the figure
        logits["shifted_val"] = predict_logits(model, data["x_val_shifted"])
    logits["test"] = predict_logits(model, data["x_test"])
    y_val, y_test, val_logits = data["y_val"].astype(int), data["y_test"].astype(int), logits["val"]
    temperature, threshold, validation = fit_calibration(model, data, val_logits, config)
    probabilities = {name: (y_test if name == "test" else y_val, metrics.sigmoid(z), metrics.sigmoid(z / temperature))
                     for name, z in logits.items()}
    _, test_probs_raw, test_probs = probabilities["test"]

    def ci(fn, scores):
        point, low, high = metrics.bootstrap_ci(fn, y_test, scores, n_boot=config.n_bootstrap, seed=config.seed)
        return {"value": point, "ci95": [low, high]}

    def ci_at(threshold, name):
        metric = getattr(metrics, name)
        return ci(lambda y, p: metric(y, metrics.predict(p, threshold)), test_probs)["ci95"]

    def report_at(threshold, **extra):
        r = {**extra, **metrics.binary_report(y_test, test_probs, threshold)}
        r.update({f"{name}_ci95": ci_at(threshold, name) for name in ("sensitivity", "specificity", "accuracy")})
        return r

    report = {
        "test_auc": ci(metrics.roc_auc, test_probs),
        "temperature": temperature,
        "threshold_0.5": report_at(0.5),
        "threshold_val_sens": report_at(threshold, target_sensitivity=config.target_sensitivity),
        "val_auc": metrics.roc_auc(y_val, val_logits),
        "ece_test_before_temperature": metrics.ece(y_test, test_probs_raw),
        "ece_test_after_temperature": metrics.ece(y_test, test_probs),
        "n_val": int(len(y_val)), "n_test": int(len(y_test)), **validation,
    }
    if len(model.members) > 1:                 # an ensemble: each member's own AUC too
        report["member_val_auc"] = [metrics.roc_auc(y_val, predict_logits(m, data["x_val"])) for m in model.members]
        report["member_test_auc"] = [metrics.roc_auc(y_test, predict_logits(m, data["x_test"])) for m in model.members]
    return report, probabilities


def write_figures(out, data, histories, report, probabilities):
    """The test split's figures at the validation-chosen threshold; reliability of every split."""
    y_test, chosen, test_probs = data["y_test"].astype(int), report["threshold_val_sens"], probabilities["test"][2]
    threshold, target = chosen["threshold"], chosen["target_sensitivity"]
    points = {plots.describe_threshold(r["threshold"], s): (1 - r["specificity"], r["sensitivity"], r["threshold"])
              for r, s in ((chosen, target), (report["threshold_0.5"], None))}
    fpr, tpr, _ = metrics.roc_curve(y_test, test_probs)
    plots.plot_roc(fpr, tpr, metrics.roc_auc(y_test, test_probs), os.path.join(out, "roc.png"),
                   operating_points=points, split="test", n=len(y_test))
    plots.plot_confusion_matrix(metrics.confusion_matrix(y_test, (test_probs >= threshold).astype(int)),
                                os.path.join(out, "confusion_matrix.png"), threshold=threshold,
                                target_sensitivity=target, split="test")
    plots.plot_reliability_by_split(probabilities, os.path.join(out, "reliability.png"), report["temperature"],
                                    report["calibrate_on"])
    if histories:
        plots.plot_training_curves(histories, os.path.join(out, "training_curves.png"))
    pick = np.random.default_rng(0).choice(len(y_test), 32, replace=False)
    plots.plot_image_grid(data["x_test_uint8"][pick], test_probs[pick], y_test[pick],
                          os.path.join(out, "test_examples.png"), threshold=threshold, target_sensitivity=target,
                          title=f"32 random test images (of {len(y_test)}): p = P(PNEUMONIA) after temperature scaling")


def summarise(report):
    auc = report["test_auc"]
    lines = [f"test ROC AUC {auc['value']:.4f} (95% CI {auc['ci95'][0]:.4f}-{auc['ci95'][1]:.4f})"]
    for key, title in (("threshold_0.5", "threshold 0.50"), ("threshold_val_sens", "validation-chosen threshold")):
        r = report[key]
        t = r.get("threshold", 0.5)
        lines.append(f"{title} ({t:.3f}): sensitivity {r['sensitivity']:.3f}, specificity {r['specificity']:.3f}, "
                     f"accuracy {r['accuracy']:.3f}, PPV {r['ppv']:.3f}, NPV {r['npv']:.3f}, F1 {r['f1']:.3f}")
    if "member_test_auc" in report:
        lines.append(f"test ROC AUC of the {len(report['member_test_auc'])} members alone: "
                     + ", ".join(f"{a:.4f}" for a in report["member_test_auc"]))
    lines.append(f"temperature {report['temperature']:.3f}; ECE on test {report['ece_test_before_temperature']:.3f} "
                 f"before, {report['ece_test_after_temperature']:.3f} after temperature scaling")
    return "\n".join(lines)


def train_and_evaluate(config, resume=False, print_fn=print, overwrite=False):
    """The whole job: data, training, evaluation; returns the metrics report.  The run folder
    stays locked from the start of training to the last figure."""
    check_can_start(config, resume)
    data = prepare_data(config)
    with RunLock(config.out_dir, print_fn):
        model, histories, _ = fit(config, data, resume=resume, print_fn=print_fn, overwrite=overwrite)
        return evaluate_run(model, data, config, histories, print_fn=print_fn)
