"""Progress lines for a training run: every few seconds within an epoch, and ETAs for the
whole run (every epoch of every ensemble member), not only the current one.

    progress = Progress(print, total_epochs=members * epochs)
    progress.start_epoch(epoch, epochs, batches)     # before the first batch
    progress.batch(number, loss, images)             # after each batch
    progress.end_epoch()                             # after validation and the checkpoint
    print(progress.eta())                            # 'training ETA 4:37 (36 of 48 epochs left)'

The first batch a process runs is slow: Numba compiles the kernels (or loads them from its
on-disk cache).  That batch is announced instead of being timed into a 13-minute ETA for a
28-second epoch, and in every epoch the rate is measured on the batches after the first.
"""

import time


def format_seconds(seconds):
    """12.6 -> '0:13', 3725 -> '62:05' (minutes:seconds)."""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


COMPILE_MESSAGE = "compiling the Numba kernels (first run only, cached afterwards)..."


class Progress:
    """Prints progress and estimates the time left for ``total_epochs`` epochs of training.

    ``prefix`` is put before every line (``fit`` sets it to an ensemble member's tag);
    ``every_seconds``: how often a batch line is printed within an epoch (and always after
    the last batch); ``clock``: seconds from a fixed start (a test passes a fake one).
    ``epochs_done`` counts the epochs finished, including those a resumed run skips
    (``skip_epochs``).
    """

    kernels_ready = False        # shared by the whole process: set after its first batch

    def __init__(self, print_fn, total_epochs, every_seconds=10.0, clock=time.perf_counter):
        self.print_fn, self.total_epochs, self.every, self.clock = print_fn, total_epochs, every_seconds, clock
        self.prefix = ""
        self.epochs_done = 0
        self.epoch_seconds = []  # each timed epoch's duration, less its first batch's extra time

    def print(self, line):
        self.print_fn(self.prefix + line)

    def skip_epochs(self, count):
        """``count`` epochs were finished by an earlier process (a resumed run)."""
        self.epochs_done += count

    def start_epoch(self, epoch, epochs, batches):
        """Before the first batch of epoch ``epoch`` of ``epochs`` (``batches`` batches)."""
        self.epoch, self.epochs, self.batches = epoch, epochs, batches
        self.epoch_start = self.last_print = self.clock()
        self.first_batch_seconds = None
        self.images = 0
        if not Progress.kernels_ready:
            self.print(f"  {COMPILE_MESSAGE}")

    def batch(self, number, loss, images):
        """After batch ``number`` (1-based) of ``images`` images, whose recent mean loss is ``loss``."""
        now = self.clock()
        if number == 1:
            self.first_batch_seconds = now - self.epoch_start
            self.after_first_batch = self.last_batch_end = now
            if not Progress.kernels_ready:
                Progress.kernels_ready = True
                self.print(f"  kernels ready: the first batch took {format_seconds(self.first_batch_seconds)}; "
                           "the ETAs are timed on the batches after it")
            return
        self.images += images
        self.last_batch_end = now
        if now - self.last_print < self.every and number != self.batches:
            return
        self.last_print = now
        seconds_per_batch = (now - self.after_first_batch) / (number - 1)
        epoch_left = (self.batches - number) * seconds_per_batch
        per_epoch = self.mean_epoch_seconds() or self.batches * seconds_per_batch    # until one is timed
        run_left = epoch_left + (self.epochs_left() - 1) * per_epoch
        self.print(f"  epoch {self.epoch}/{self.epochs} batch {number}/{self.batches} loss {loss:.4f}, "
                   f"{self.images / (now - self.after_first_batch):.0f} img/s; "
                   f"epoch ETA {format_seconds(epoch_left)}, training ETA {format_seconds(run_left)}")

    def end_epoch(self):
        """After an epoch's validation and checkpoint: count it done and record its time, less
        what its first batch took beyond a typical one (the compilation, on a cold start)."""
        seconds = self.clock() - self.epoch_start
        if self.first_batch_seconds is not None and self.batches > 1:
            typical = (self.last_batch_end - self.after_first_batch) / (self.batches - 1)
            seconds -= max(0.0, self.first_batch_seconds - typical)
        self.epoch_seconds.append(seconds)
        self.epochs_done += 1

    def epochs_left(self):
        """Epochs of the whole run not finished yet (the current one included)."""
        return self.total_epochs - self.epochs_done

    def mean_epoch_seconds(self):
        """The mean time of the epochs timed so far (None before the first one ends)."""
        return sum(self.epoch_seconds) / len(self.epoch_seconds) if self.epoch_seconds else None

    def eta(self):
        """'training ETA 4:37 (36 of 48 epochs left)': the whole run's, for the end-of-epoch
        lines; 'not known yet' before an epoch was timed (a resumed run's finished members)."""
        left = f"({self.epochs_left()} of {self.total_epochs} epochs left)"
        if not self.epoch_seconds:
            return f"training ETA not known yet {left}"
        return f"training ETA {format_seconds(self.epochs_left() * self.mean_epoch_seconds())} {left}"
