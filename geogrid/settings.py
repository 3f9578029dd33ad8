"""Documented defaults for every analysis; every one is a keyword you can override.

Sources: GB 50180-2018 (urban residential area planning and design standard: 5/10/15-minute
life circles of about 300/500/800-1,000 m), TD/T 1062-2021 (community life-circle planning
guide: 15 minutes on foot, about 1 km), the 7th national census (2.62 persons per household),
and the published practice of Baotou, Wuhai and Foshan (see ``GUIDE.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from geogrid.errors import InputError

__all__ = [
    "DEFAULTS",
    "PLAUSIBLE_SPEED_KMH",
    "PLAUSIBLE_TARGET_M",
    "PLAUSIBLE_TARGET_MIN",
    "check_plausible",
    "parse_targets",
    "CLOSABLE_TYPES",
    "FACILITY_TYPES",
    "FACILITY_TYPE_NAMES_ZH",
    "Settings",
    "Target",
    "default_targets",
]

#: Walking speed in km/h; 4 km/h = 66.7 m/min makes "15 minutes" and "1 km" the same line.
WALK_SPEED_KMH: float = 4.0
#: Persons per household (7th national census, 2020).
HOUSEHOLD_SIZE: float = 2.62
#: Snap distance beyond which a point is flagged as far from the network.
MAX_SNAP_M: float = 300.0

#: Plausible walking speeds in km/h: from a frail elderly walker (0.5) to a runner (20). Values
#: outside are refused unless ``allow_implausible`` (``--allow-implausible``) is given.
PLAUSIBLE_SPEED_KMH: tuple[float, float] = (0.5, 20.0)
#: Plausible time targets in minutes (1 minute to 2 hours on foot).
PLAUSIBLE_TARGET_MIN: tuple[float, float] = (1.0, 120.0)
#: Plausible distance targets in metres (50 m to 10 km).
PLAUSIBLE_TARGET_M: tuple[float, float] = (50.0, 10_000.0)

#: Facility ``type`` vocabulary -> Chinese name.
FACILITY_TYPE_NAMES_ZH: Mapping[str, str] = MappingProxyType(
    {
        "centre_city": "市级党群服务中心",
        "centre_district": "区级党群服务中心",
        "centre_street": "街道党群服务中心",
        "centre_community": "社区党群服务中心",
        "station": "党群服务站",
        "liaison_point": "党群联络点",
        "recharge_station": "红色蓄能站",
        "facility": "其他服务设施",
    }
)
#: Known facility types (an unknown type is kept as ``facility`` with a warning).
FACILITY_TYPES: tuple[str, ...] = tuple(FACILITY_TYPE_NAMES_ZH)

#: Facility types relocation may close by default: stations and points, never a centre
#: (a party-mass service centre is the street's or community's seat, not a station to move).
CLOSABLE_TYPES: tuple[str, ...] = tuple(t for t in FACILITY_TYPES if not t.startswith("centre_"))


@dataclass(frozen=True)
class Target:
    """One coverage target: a walking time or a walking distance.

    Exactly one of ``minutes`` and ``metres`` is set. The column name is
    ``within_{name}``, e.g. ``within_15min`` or ``within_1km``.
    """

    name: str
    minutes: float | None = None
    metres: float | None = None

    def max_dist_m(self, speed_kmh: float) -> float:
        """Return the walking distance in metres this target allows at ``speed_kmh``.

        Parameters
        ----------
        speed_kmh : float
            Walking speed in km/h (used by time targets only).

        Returns
        -------
        float
            Metres.

        Examples
        --------
        >>> Target("15min", minutes=15).max_dist_m(4.0)
        1000.0
        >>> Target("800m", metres=800).max_dist_m(4.0)
        800.0

        """
        if self.metres is not None:
            return float(self.metres)
        if self.minutes is None:
            msg = f"target {self.name!r} has neither minutes nor metres; give one"
            raise ValueError(msg)
        return float(self.minutes) * speed_kmh * 1000.0 / 60.0

    @property
    def column(self) -> str:
        """Output column name, ``within_<name>``."""
        return f"within_{self.name}"


def default_targets() -> tuple[Target, ...]:
    """Return the default targets: 5, 10 and 15 minutes on foot and 1 km.

    Returns
    -------
    tuple of Target

    Examples
    --------
    >>> [t.column for t in default_targets()]
    ['within_5min', 'within_10min', 'within_15min', 'within_1km']

    """
    return (
        Target("5min", minutes=5),
        Target("10min", minutes=10),
        Target("15min", minutes=15),
        Target("1km", metres=1000),
    )


@dataclass(frozen=True)
class Settings:
    """Every default in one place. ``DEFAULTS`` is the instance used when none is given.

    Attributes
    ----------
    speed_kmh : walking speed (4 km/h; elderly 3 km/h, adults 4.5-5 km/h).
    household_size : persons per household (2.62, 7th census).
    max_snap_m : snap legs longer than this are flagged (300 m).
    targets : coverage targets (5, 10, 15 min and 1 km).
    type_targets : per facility type, the target name that type must meet
        (community centres 15 minutes, compound stations 10 minutes).
    street_side_m : half-width of a service-area band drawn around reached street
        segments (50 m: the buildings that front a street).
    net_to_gross : share of a residential building's gross floor area (footprint x storeys)
        that is in dwellings, not stairs, lobbies, plant or ground-floor shops (0.75; GB
        50096-2011 practice puts 套内 area at 70-80 % of 建筑面积 for slab and tower blocks).
    dwelling_m2 : floor area per household (90 m2: the 7th census' 36.5 m2 of housing per
        urban resident x 2.62 persons is 96 m2 of gross area; 90 m2 is also the national
        small-and-medium dwelling line of the 2006 "90/70" housing policy).
    occupancy_rate : share of dwellings with a resident household (1.0: the census counts
        households where they live and vacancy surveys disagree widely, 5-20 %; set a local
        figure, e.g. 0.9, where a vacancy or utility-meter survey exists).
    storey_height_m : metres per storey when only ``height`` is known (3 m; GB 50096-2011
        §5.5.1 sets a 2.8 m minimum storey height, 3 m is the common design value).
    default_levels : storeys by building tag when no level, floor or height is known
        (6 for apartments/residential: the pre-2000 walk-up slab; 2 for houses; 3 otherwise).
    min_housing_footprint_m2 : a footprint smaller than this is not housing (20 m2: GB
        50096-2011 §5.1.2 sets 22 m2 of usable area as the smallest dwelling; sheds, kiosks
        and garages fall below).
    max_untagged_housing_footprint_m2 : a ``building=yes`` footprint larger than this is not
        housing unless land use, a compound or its name says so (4,000 m2: slab and tower
        blocks are 12-20 m deep and rarely over 150 m long; halls, malls and factories are
        larger).
    near_residential_m : an untagged building this close to ``landuse=residential`` counts as
        housing (30 m: land-use polygons in OSM are often drawn to the kerb).
    compound_radius_m : a compound point that falls in no residential area gives its
        households to the residential buildings within this distance (150 m: half the side
        of a typical 300 m Chinese superblock, so that one compound's point does not reach the
        next block); beyond it the point itself becomes a demand unit.
    grid_min_households, grid_target_households, grid_max_households : grid band (200-500).
    min_m2_per_100_households : service standard for facility load: floor area per 100
        households served (30 m2, the civil-affairs guideline for community service rooms);
        a facility with less is flagged overloaded (as is one serving more than ``capacity``).
    primary_target : the target used for gaps, load catchments and 2SFCA ("15min").
    funds_office_per_household, funds_service_per_household, funds_per_party_member :
        Baotou annual funding rules in yuan (35, 50, 300).

    """

    speed_kmh: float = WALK_SPEED_KMH
    household_size: float = HOUSEHOLD_SIZE
    max_snap_m: float = MAX_SNAP_M
    targets: tuple[Target, ...] = field(default_factory=default_targets)
    type_targets: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType(
            {
                "centre_city": "15min",
                "centre_district": "15min",
                "centre_street": "15min",
                "centre_community": "15min",
                "station": "10min",
                "liaison_point": "10min",
                "recharge_station": "15min",
                "facility": "15min",
            }
        )
    )
    street_side_m: float = 50.0
    net_to_gross: float = 0.75
    dwelling_m2: float = 90.0
    storey_height_m: float = 3.0
    default_levels: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(
            {
                "apartments": 6,
                "residential": 6,
                "house": 2,
                "detached": 2,
                "semidetached_house": 2,
                "terrace": 2,
                "dormitory": 5,
                "yes": 3,
            }
        )
    )
    min_housing_footprint_m2: float = 20.0
    max_untagged_housing_footprint_m2: float = 4000.0
    near_residential_m: float = 30.0
    occupancy_rate: float = 1.0
    compound_radius_m: float = 150.0
    grid_min_households: int = 200
    grid_target_households: int = 350
    grid_max_households: int = 500
    min_m2_per_100_households: float = 30.0
    primary_target: str = "15min"
    funds_office_per_household: float = 35.0
    funds_service_per_household: float = 50.0
    funds_per_party_member: float = 300.0


DEFAULTS = Settings()


def parse_targets(spec: str | tuple[Target, ...] | list[str] | None) -> tuple[Target, ...]:
    """Parse targets such as ``"5min,10min,15min,1km"`` or ``["15min", "800m"]``.

    Minutes end in ``min``; distances end in ``km`` or ``m``.

    Parameters
    ----------
    spec : str, list of str, tuple of Target or None
        The targets; None gives :func:`default_targets`.

    Returns
    -------
    tuple of Target

    Raises
    ------
    InputError
        When a target cannot be read or is not a positive number.

    Examples
    --------
    >>> [(t.name, t.minutes, t.metres) for t in parse_targets("10min,1km")]
    [('10min', 10.0, None), ('1km', None, 1000.0)]

    """
    if spec is None:
        return default_targets()
    if isinstance(spec, tuple) and all(isinstance(t, Target) for t in spec):
        return spec
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Target] = []
    for raw in items:
        if isinstance(raw, Target):
            out.append(raw)
            continue
        out.append(_parse_target(raw))
    if not out:
        msg = "no targets given; pass e.g. '5min,10min,15min,1km'"
        raise InputError(msg)
    return tuple(out)


def _parse_target(raw: object) -> Target:
    text = str(raw).strip().lower().replace(" ", "")
    hint = "write minutes like '15min' or distances like '1km', '800m'"
    units = (("min", "minutes", 1.0), ("km", "metres", 1000.0), ("m", "metres", 1.0))
    for suffix, kind, factor in units:
        if text.endswith(suffix):
            try:
                value = float(text[: -len(suffix)]) * factor
            except ValueError:
                break
            if not math.isfinite(value) or value <= 0:
                msg = f"target {raw!r} must be a positive finite number; {hint}"
                raise InputError(msg)
            return Target(text, **{kind: value})
    msg = f"cannot read target {raw!r}; {hint}"
    raise InputError(msg)


def check_plausible(
    *,
    speed_kmh: float | None = None,
    targets: Iterable[Target] = (),
    allow_implausible: bool = False,
) -> None:
    """Refuse a walking speed or target outside the documented plausible ranges.

    The ranges are :data:`PLAUSIBLE_SPEED_KMH` (0.5-20 km/h), :data:`PLAUSIBLE_TARGET_MIN`
    (1-120 min) and :data:`PLAUSIBLE_TARGET_M` (50-10,000 m). A speed that is not a positive
    finite number is always refused; ``allow_implausible=True`` lets the other values through
    (for experiments).

    Parameters
    ----------
    speed_kmh : float, optional
        Walking speed to check.
    targets : iterable of Target
        Targets to check.
    allow_implausible : bool
        Let plausible-range violations through (not a non-positive speed).

    Raises
    ------
    InputError
        Naming the value, the range and the override.

    Examples
    --------
    >>> check_plausible(speed_kmh=4.0, targets=parse_targets("15min"))
    >>> check_plausible(speed_kmh=40.0)
    Traceback (most recent call last):
    ...
    geogrid.errors.InputError: walking speed 40 km/h is outside the plausible 0.5-20 km/h ...

    """
    override = "or pass --allow-implausible (allow_implausible=True) for an experiment"
    if speed_kmh is not None:
        if not math.isfinite(speed_kmh) or speed_kmh <= 0:
            msg = f"walking speed must be a positive number of km/h, got {speed_kmh!r}; pass e.g. --speed 4"
            raise InputError(msg)
        lo, hi = PLAUSIBLE_SPEED_KMH
        if not allow_implausible and not lo <= speed_kmh <= hi:
            msg = (
                f"walking speed {speed_kmh:g} km/h is outside the plausible {lo:g}-{hi:g} km/h "
                f"(elderly 3, adults 4-5); pass e.g. --speed 4, {override}"
            )
            raise InputError(msg)
    if allow_implausible:
        return
    for t in targets:
        if t.minutes is not None:
            (lo, hi), value, unit = PLAUSIBLE_TARGET_MIN, float(t.minutes), "min"
        elif t.metres is not None:
            (lo, hi), value, unit = PLAUSIBLE_TARGET_M, float(t.metres), "m"
        else:
            continue
        if not lo <= value <= hi:
            msg = (
                f"target {t.name!r} is outside the plausible {lo:g}-{hi:,g} {unit}; pass e.g. "
                f"'15min' or '1km', {override}"
            )
            raise InputError(msg)
