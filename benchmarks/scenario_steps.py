"""Time each what-if step of notebooks/01_what_if.ipynb (demo district, 3 repeats): python benchmarks/scenario_steps.py"""

import geogrid

study = geogrid.load_demo(n_communities=10, seed=0)
base = geogrid.scenario(study)
loads = base.loads().sort_values("served_households")
quiet = loads["facility_id"].iloc[0]
worst = base.by_community().sort_values("coverage_15min").head(2)
areas = study.communities.set_index("community_code").geometry
w1, w2 = (areas[c].representative_point() for c in worst["community_code"])
for _rep in range(3):
    s = [
        base.variant("迁站").move_station(quiet, w1),
        base.variant("加两站").add_station(w1).add_station(w2),
        base.variant("关一站").close_station(quiet),
        base.variant("慢行").set_speed(3.0),
    ]
    print(" | ".join(f"{e.text()} {e.seconds * 1000:.1f} ms" for v in s for e in v.edits))
