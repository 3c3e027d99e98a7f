from ric_demo.walkthrough import main


def test_walkthrough_runs_end_to_end(capsys):
    out = main(["--samples", "800", "--seed", "1"])
    printed = capsys.readouterr().out
    assert "<rm1_score>" in printed and "hypervolume" in printed
    assert 0.3 < out["fraction_kept"] < 0.9  # MORS keeps a real share, not all and not none
    assert out["hv_ric"] > out["hv_base"]  # the simulated conditioned policy spans a wider front
