"""iontocore: a safety-critical control core for iontophoresis devices.

    from iontocore import Controller, DeviceLimits, Sample, profiles
    ctl = Controller(profiles.load("hyperhidrosis-palms"), DeviceLimits(), tick_ms=10)
    ctl.start()
    cmd = ctl.step(Sample(t_ms=0, current_ua=0, voltage_mv=0))   # once per tick

Sans-I/O and deterministic; depends on `transitions` only. Specs: specs/; safety case:
SAFETY.md.
"""

from .controller import COMPLETED, FAULTED, STOPPED, Controller, Outcome
from .coordinator import ChannelLimits, Coordinator
from .errors import InvalidSettings, Problem
from .events import Reply, StateChanged
from .faults import CATALOGUE, FaultCode, FaultRecord, Reaction
from .interface import OFF, Command, Sample
from .limits import DeviceLimits
from .machine import (FAULT, IDLE, PAUSED, POLARITY_SWAP, PULSE_GAP, RAMP_DOWN, RAMP_UP, TREAT,
                      State)
from .prescription import Prescription
from .supervision import SupervisionLimits
from . import profiles

__version__ = "0.1.0"

__all__ = [
    "CATALOGUE", "ChannelLimits", "Command", "Controller", "Coordinator", "DeviceLimits", "FaultCode", "FaultRecord",
    "InvalidSettings", "OFF", "Prescription", "Problem", "Reaction", "Reply", "Sample",
    "StateChanged", "SupervisionLimits", "profiles", "__version__",
    # the states (Controller.state) and outcomes (Controller.outcome), typed as Literals
    "State", "IDLE", "RAMP_UP", "TREAT", "POLARITY_SWAP", "PAUSED", "PULSE_GAP", "RAMP_DOWN",
    "FAULT", "Outcome", "COMPLETED", "STOPPED", "FAULTED",
]
