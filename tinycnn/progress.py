"""Progress lines for long work: per epoch, and every few seconds within one, with an ETA."""

import time


def format_seconds(seconds):
    """12.6 -> '0:13', 3725 -> '62:05' (minutes:seconds)."""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Prints one line per epoch and, within an epoch, every ``every_seconds``."""

    def __init__(self, print_fn, every_seconds=10.0):
        self.print = print_fn
        self.every = every_seconds
        self.last = 0.0

    def batch(self, epoch, epochs, batch, batches, loss, images_per_second):
        now = time.perf_counter()
        if now - self.last < self.every and batch != batches:
            return
        self.last = now
        eta = (batches - batch) * (now - self.epoch_start) / batch
        self.print(f"  epoch {epoch}/{epochs} batch {batch}/{batches} loss {loss:.4f} "
                   f"{images_per_second:.0f} img/s, epoch ETA {format_seconds(eta)}")

    def start_epoch(self):
        self.epoch_start = self.last = time.perf_counter()
