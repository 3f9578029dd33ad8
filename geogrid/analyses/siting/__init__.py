"""Station siting: candidates, coverage matrices, models and the HiGHS solve."""
