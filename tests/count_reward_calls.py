"""Run ``ric_diffusion.train`` with ``toy_brightness`` counting what it scores: every call appends the number of
images to ``$RIC_COUNT_FILE``. Launched as a script (``accelerate launch tests/count_reward_calls.py ARGS``) by the
tests that check a killed and rerun relabelling scores no image twice, on every process."""

import os
import runpy
import sys

import rewards.toy

_score = rewards.toy.ToyBrightness.score


def counted(self, images, **kwargs):
    with open(os.environ["RIC_COUNT_FILE"], "a") as f:  # O_APPEND: the processes' lines do not mix
        f.write(f"{len(images)}\n")
    return _score(self, images=images, **kwargs)


rewards.toy.ToyBrightness.score = counted
if __name__ == "__main__":
    sys.argv = ["ric-diffusion-train", *sys.argv[1:]]
    runpy.run_module("ric_diffusion.train", run_name="__main__")
