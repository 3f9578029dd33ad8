"""MCLP at scale (``MclpCurve`` beyond small instances): the bound it reports is valid and
the gap honest, checked against the optimum HiGHS proves on the plain model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from geogrid.analyses.siting import solve as S


def _random_instance(seed: int, n_cand: int = 160, n_units: int = 2500, radius: float = 0.09):
    """Units and candidates uniform in the unit square; a candidate reaches the units within
    ``radius`` (values are the distances, as in a real reach matrix); weights 1..9."""
    rng = np.random.default_rng(seed)
    units = rng.random((n_units, 2))
    cand = rng.random((n_cand, 2))
    d = np.sqrt(((cand[:, None, :] - units[None, :, :]) ** 2).sum(axis=2))
    d = np.where(d <= radius, d + 1e-9, 0.0)
    cover = sparse.csr_matrix(d)
    w = rng.integers(1, 10, n_units).astype(float)
    covered0 = rng.random(n_units) < 0.05
    return cover, w, covered0


def _covered(cover, w, covered0, sites) -> float:
    reach = np.asarray(cover[np.asarray(sites, dtype=np.int64)].sum(axis=0)).ravel() > 0
    return float(w[reach & ~covered0].sum())


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("effort", ["full", "cut_short"])
def test_bound_valid_and_gap_honest(seed, effort):
    cover, w, covered0 = _random_instance(seed)
    k = 9
    ref = S.exact_cover(cover, w, covered0, k=k, mip_rel_gap=1e-9, time_limit_s=120)
    assert ref.status == "Optimal"
    opt = ref.objective
    tol = 1e-9 if effort == "full" else 1e-3
    mc = S.MclpCurve(cover, w, covered0, mip_rel_gap=tol)
    mc.small_nnz = 0  # the decomposed path: LP bound, swap search, HiGHS over what is left
    if effort == "cut_short":
        mc.lp_rounds = 2  # a bound short of the LP optimum
        mc.search_kicks = 0  # the first local optimum only
        mc.mip_max_pairs = 0  # no HiGHS proof: the gap is what the bound gives
    sol = mc.solve(k)
    assert len(sol.sites) <= k
    got = _covered(cover, w, covered0, sol.sites)
    assert sol.objective == pytest.approx(got, abs=1e-6)  # the objective is what it covers
    assert sol.objective <= opt + 1e-6
    assert sol.bound >= opt - 1e-6  # the bound is valid
    assert sol.gap == pytest.approx(max(sol.bound - sol.objective, 0.0) / sol.bound, abs=1e-12)
    if effort == "full":
        assert sol.objective == pytest.approx(opt, abs=1e-6) and sol.status == "Optimal"
    else:
        assert sol.info["lp_rounds"] <= 2
        assert (sol.status == "Optimal") == (sol.gap <= tol)


def test_lp_bound_is_the_lp_optimum_and_fixing_is_safe():
    """Column generation ends at the LP optimum of the whole model (solved by HiGHS), and no
    candidate of a proven optimum is fixed closed against it."""
    from geogrid.analyses.highs import mip_model, quiet_highs
    from geogrid.analyses.siting.colgen import fix_closed, lp_bound

    cover, w, covered0 = _random_instance(2, n_cand=120, n_units=1500)
    k = 7
    red = S.reduce_cover(cover, w, ~covered0 & (w > 0))
    mat, wa = red.mat, red.weight
    n, m = mat.shape
    link = sparse.hstack([-mat.T.tocsr(), sparse.identity(m, format="csr")], format="csr")
    card = sparse.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :])
    lp = mip_model(
        sparse.vstack([link, card]),
        cost=np.r_[np.zeros(n), wa],
        col_lo=np.zeros(n + m),
        col_hi=np.ones(n + m),
        row_lo=np.full(m + 1, -np.inf),
        row_hi=np.r_[np.zeros(m), k],
        n_int=0,
        maximize=True,
    )
    h = quiet_highs()
    h.passModel(lp)
    h.run()
    lp_opt = h.getInfo().objective_function_value
    greedy = S.greedy_cover(mat, wa, np.zeros(m, dtype=bool), k=k).sites
    lpb = lp_bound(mat, wa, k, greedy, required=np.zeros(0, np.int64), tol=0.0)
    assert lpb.bound == pytest.approx(lp_opt, rel=1e-7)
    assert lpb.bound >= lp_opt - 1e-6
    ref = S.exact_cover(cover, w, covered0, k=k, mip_rel_gap=1e-9)
    opt_rows = np.searchsorted(red.rows, ref.sites)
    assert (red.rows[opt_rows] == ref.sites).all()
    closed = fix_closed(lpb, k, np.zeros(0, np.int64), ref.objective - 1.0)
    assert not closed[opt_rows].any()


def test_from_atoms_is_the_same_model():
    """Atoms given directly (as the matrix builder makes them) give the same model and answer."""
    cover, w, covered0 = _random_instance(3, n_cand=100, n_units=1200)
    open_units = ~covered0 & (w > 0)
    red = S.reduce_cover(cover, w, open_units, keep=np.arange(cover.shape[0]))
    a = S.MclpCurve(cover, w, covered0, mip_rel_gap=1e-9)
    b = S.MclpCurve.from_atoms(red.mat, red.weight, mip_rel_gap=1e-9)
    assert (a.red.rows == b.red.rows).all() and a.m == b.m and a.total == b.total
    for mc in (a, b):
        mc.small_nnz = 0
    for k in (1, 4, 6):
        sa, sb = a.solve(k), b.solve(k)
        assert sa.objective == pytest.approx(sb.objective) and (sa.sites == sb.sites).all()
