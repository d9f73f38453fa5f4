"""Open report.html in headless Chromium and check the screenshot shows the page."""

import shutil
import subprocess

import numpy as np
import pytest

from alignuser.scenario import Scenario
from alignuser.simulation.runner import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    s = Scenario.model_validate(
        {
            "dataset": {"synthetic": {"n_users": 60, "n_items": 80}},
            "population": {"n_agents": 40},
            "memory": {"backend": "inmemory"},
            "recommenders": [{"name": "popular"}, {"name": "random"}],
        }
    )
    run_dir = run(s, tmp_path / "run")
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,2400",
        f"--screenshot={shot}", (run_dir / "report.html").as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[0] >= 2000 and img.shape[1] >= 1200
    gray = img[..., :3].mean(axis=2)
    # the page is not blank: the plots fill a good share of the top 2000 rows with ink
    ink = (gray[:2000] < 0.85).mean()
    assert ink > 0.03, ink
    # and colour (the coloured bars and lines of the figures) is present
    sat = np.ptp(img[..., :3], axis=2)
    assert (sat > 0.3).mean() > 0.005
