//! Live capture (Linux AF_PACKET, TPACKET_V3 ring). Filled in below.
