"""Compatibility facade: the lossy link now lives in concept modules; import from them in new code.

``core.link.ber`` (check_ber, grids), ``core.link.bsc`` (flips, corrupt, receive), ``core.link.protections`` (the
registry of receiver protections), ``core.link.packets`` (the packet view). This module only re-exports them so
that code written against the old ``core.link.channel`` keeps working; nothing in the project imports it.
"""
from core.compress.payload import FLOAT_BITS
from core.link.ber import check_ber
from core.link.bsc import (Corruption, Received, SegmentHit, bernoulli_positions, check_payload, corrupt, draw_flips,
                           flip_bits, receive, small_tensor_names)
from core.link.packets import (PACKET_MODES, PacketConfig, PacketLoss, PacketReport, lose_packets,
                               packet_error_rate, packet_report)
from core.link.protections import (PROTECTION_NAMES as PROTECTIONS, UEP_DEFAULT_BITS, check_protection,
                                   protect_values, uep_cost_bits, uep_protected_bits)

__all__ = ["PROTECTIONS", "PACKET_MODES", "UEP_DEFAULT_BITS", "check_ber", "check_protection", "check_payload",
           "flip_bits", "draw_flips", "bernoulli_positions", "corrupt", "Corruption", "SegmentHit",
           "small_tensor_names", "uep_protected_bits", "uep_cost_bits", "protect_values", "receive", "Received",
           "PacketConfig", "packet_error_rate", "packet_report", "PacketReport", "lose_packets", "PacketLoss",
           "FLOAT_BITS"]
