// Built-in definitions of the VPP API messages this product uses, for when VPP's own JSON
// API files are not installed (VPP_API_DIR). This is a subset of VPP v26.10's *.api.json
// (the files in shared/vpp-api/): for each module, only the messages below and the types
// they use, in VPP's own JSON format, so the same parser reads these and VPP's files.
//
// CRC history. Every message here has had one CRC from VPP 22.10 to 26.10 wherever we
// could look it up; what changed between versions is which messages exist:
// memif_create_v2 and memif_socket_filename_add_del_v2 are absent in 22.10 (memif API
// 3.0.0) and present from 23.06 (memif API 3.1.0), and bridge_domain_add_del_v2 is absent
// in 22.10 and present in 23.06. KNOWN_CRCS below lists, per message, the VPP versions in
// which that CRC was seen, and only those:
//   26.10  shared/vpp-api (VPP's own .api.json, v26.10-rc0)
//   25.02  govpp binapi generated from VPP 25.02-release (memif; file CRC 0xd48ac702 = 26.10's)
//   24.02  govpp binapi generated from VPP 24.02-release (memif; file CRC 0xd48ac702 = 26.10's)
//   23.10  govpp binapi generated from VPP 23.10-release (memif)
//   23.06  ligato/vpp-agent binapi/vpp2306 (memif, l2)
//   22.10  govpp binapi generated from VPP 22.10-release (memif, vpe) and
//          ligato/vpp-agent binapi/vpp2210 (memclnt, interface, l2)
// A VPP whose table announces another CRC for one of these names gets a clear error that
// asks for its JSON files; see VppMessageUnavailableError.

export interface KnownCrc {
  readonly crc: string;
  readonly vpp: readonly string[];
}

export const KNOWN_CRCS: Readonly<Record<string, KnownCrc>> = {
  sockclnt_create: { crc: '455fb9c4', vpp: ["22.10", "26.10"] },
  sockclnt_create_reply: { crc: '35166268', vpp: ["22.10", "26.10"] },
  sockclnt_delete: { crc: '8ac76db6', vpp: ["22.10", "26.10"] },
  sockclnt_delete_reply: { crc: '8f38b1ee', vpp: ["22.10", "26.10"] },
  control_ping: { crc: '51077d14', vpp: ["22.10", "26.10"] },
  control_ping_reply: { crc: 'f6b0b8ca', vpp: ["22.10", "26.10"] },
  memclnt_keepalive: { crc: '51077d14', vpp: ["22.10", "26.10"] },
  memclnt_keepalive_reply: { crc: 'e8d4e804', vpp: ["22.10", "26.10"] },
  show_version: { crc: '51077d14', vpp: ["22.10", "26.10"] },
  show_version_reply: { crc: 'c919bde1', vpp: ["22.10", "26.10"] },
  sw_interface_set_flags: { crc: 'f5aec1b8', vpp: ["22.10", "26.10"] },
  sw_interface_set_flags_reply: { crc: 'e8d4e804', vpp: ["22.10", "26.10"] },
  want_interface_events: { crc: '476f5a08', vpp: ["22.10", "26.10"] },
  want_interface_events_reply: { crc: 'e8d4e804', vpp: ["22.10", "26.10"] },
  sw_interface_event: { crc: '2d3d95a7', vpp: ["22.10", "26.10"] },
  sw_interface_dump: { crc: 'aa610c27', vpp: ["22.10", "26.10"] },
  sw_interface_details: { crc: '6c221fc7', vpp: ["22.10", "26.10"] },
  sw_interface_set_l2_bridge: { crc: 'd0678b13', vpp: ["22.10", "23.06", "26.10"] },
  sw_interface_set_l2_bridge_reply: { crc: 'e8d4e804', vpp: ["22.10", "23.06", "26.10"] },
  l2fib_add_del: { crc: 'eddda487', vpp: ["22.10", "23.06", "26.10"] },
  l2fib_add_del_reply: { crc: 'e8d4e804', vpp: ["22.10", "23.06", "26.10"] },
  bridge_domain_add_del: { crc: '600b7170', vpp: ["22.10", "23.06", "26.10"] },
  bridge_domain_add_del_reply: { crc: 'e8d4e804', vpp: ["22.10", "23.06", "26.10"] },
  bridge_domain_add_del_v2: { crc: '600b7170', vpp: ["23.06", "26.10"] },
  bridge_domain_add_del_v2_reply: { crc: 'fcb1e980', vpp: ["23.06", "26.10"] },
  bridge_domain_dump: { crc: '74396a43', vpp: ["22.10", "23.06", "26.10"] },
  bridge_domain_details: { crc: '0fa506fd', vpp: ["22.10", "23.06", "26.10"] },
  memif_socket_filename_add_del: { crc: 'a2ce1a10', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_socket_filename_add_del_reply: { crc: 'e8d4e804', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_socket_filename_add_del_v2: { crc: '34223bdf', vpp: ["23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_socket_filename_add_del_v2_reply: { crc: '9f29bdb9', vpp: ["23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_create: { crc: 'b1b25061', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_create_reply: { crc: '5383d31f', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_create_v2: { crc: '8c7de5f7', vpp: ["23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_create_v2_reply: { crc: '5383d31f', vpp: ["23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_delete: { crc: 'f9e6675e', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_delete_reply: { crc: 'e8d4e804', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_dump: { crc: '51077d14', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_details: { crc: 'da34feb9', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_socket_filename_dump: { crc: '51077d14', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
  memif_socket_filename_details: { crc: '7ff326f7', vpp: ["22.10", "23.06", "23.10", "24.02", "25.02", "26.10"] },
};

export const BUILTIN_API_FILES: readonly unknown[] = [
  {
    module: "memclnt",
    vl_api_version: "0xb197c551",
    messages: [
      ["sockclnt_create", ["u16", "_vl_msg_id"], ["u32", "context"], ["string", "name", 64], {"crc": "0x455fb9c4"}],
      ["sockclnt_create_reply", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["i32", "response"], ["u32", "index"], ["u16", "count"], ["vl_api_message_table_entry_t", "message_table", 0, "count"], {"crc": "0x35166268"}],
      ["sockclnt_delete", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["u32", "index"], {"crc": "0x8ac76db6"}],
      ["sockclnt_delete_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "response"], {"crc": "0x8f38b1ee"}],
      ["control_ping", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], {"crc": "0x51077d14"}],
      ["control_ping_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], ["u32", "client_index"], ["u32", "vpe_pid"], {"crc": "0xf6b0b8ca"}],
      ["memclnt_keepalive", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], {"crc": "0x51077d14"}],
      ["memclnt_keepalive_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804"}],
    ],
    types: [
      ["message_table_entry", ["u16", "index"], ["string", "name", 64]],
    ],
    unions: [],
    enums: [],
    enumflags: [],
    aliases: {},
    services: {
      sockclnt_create: {"reply": "sockclnt_create_reply"},
      sockclnt_delete: {"reply": "sockclnt_delete_reply"},
      memclnt_keepalive: {"reply": "memclnt_keepalive_reply"},
      control_ping: {"reply": "control_ping_reply"},
    },
  },
  {
    module: "vpe",
    vl_api_version: "0xbbfa7484",
    messages: [
      ["show_version", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], {"crc": "0x51077d14"}],
      ["show_version_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], ["string", "program", 32], ["string", "version", 32], ["string", "build_date", 32], ["string", "build_directory", 256], {"crc": "0xc919bde1"}],
    ],
    types: [],
    unions: [],
    enums: [],
    enumflags: [],
    aliases: {},
    services: {
      show_version: {"reply": "show_version_reply"},
    },
  },
  {
    module: "interface",
    vl_api_version: "0x98d849f6",
    messages: [
      ["sw_interface_set_flags", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["vl_api_interface_index_t", "sw_if_index"], ["vl_api_if_status_flags_t", "flags"], {"crc": "0xf5aec1b8"}],
      ["sw_interface_set_flags_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804"}],
      ["want_interface_events", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["u32", "enable_disable"], ["u32", "pid"], {"crc": "0x476f5a08"}],
      ["want_interface_events_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804"}],
      ["sw_interface_event", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "pid"], ["vl_api_interface_index_t", "sw_if_index"], ["vl_api_if_status_flags_t", "flags"], ["bool", "deleted"], {"crc": "0x2d3d95a7"}],
      ["sw_interface_dump", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["vl_api_interface_index_t", "sw_if_index", {"default": 4294967295}], ["bool", "name_filter_valid"], ["string", "name_filter", 0], {"crc": "0xaa610c27"}],
      ["sw_interface_details", ["u16", "_vl_msg_id"], ["u32", "context"], ["vl_api_interface_index_t", "sw_if_index"], ["u32", "sup_sw_if_index"], ["vl_api_mac_address_t", "l2_address"], ["vl_api_if_status_flags_t", "flags"], ["vl_api_if_type_t", "type"], ["vl_api_link_duplex_t", "link_duplex"], ["u32", "link_speed"], ["u16", "link_mtu"], ["u32", "mtu", 4], ["u32", "sub_id"], ["u8", "sub_number_of_tags"], ["u16", "sub_outer_vlan_id"], ["u16", "sub_inner_vlan_id"], ["vl_api_sub_if_flags_t", "sub_if_flags"], ["u32", "vtr_op"], ["u32", "vtr_push_dot1q"], ["u32", "vtr_tag1"], ["u32", "vtr_tag2"], ["u16", "outer_tag"], ["vl_api_mac_address_t", "b_dmac"], ["vl_api_mac_address_t", "b_smac"], ["u16", "b_vlanid"], ["u32", "i_sid"], ["string", "interface_name", 64], ["string", "interface_dev_type", 64], ["string", "tag", 64], {"crc": "0x6c221fc7"}],
    ],
    types: [],
    unions: [],
    enums: [
      ["if_status_flags", ["IF_STATUS_API_FLAG_ADMIN_UP", 1], ["IF_STATUS_API_FLAG_LINK_UP", 2], {"enumtype": "u32"}],
      ["link_duplex", ["LINK_DUPLEX_API_UNKNOWN", 0], ["LINK_DUPLEX_API_HALF", 1], ["LINK_DUPLEX_API_FULL", 2], {"enumtype": "u32"}],
      ["sub_if_flags", ["SUB_IF_API_FLAG_NO_TAGS", 1], ["SUB_IF_API_FLAG_ONE_TAG", 2], ["SUB_IF_API_FLAG_TWO_TAGS", 4], ["SUB_IF_API_FLAG_DOT1AD", 8], ["SUB_IF_API_FLAG_EXACT_MATCH", 16], ["SUB_IF_API_FLAG_DEFAULT", 32], ["SUB_IF_API_FLAG_OUTER_VLAN_ID_ANY", 64], ["SUB_IF_API_FLAG_INNER_VLAN_ID_ANY", 128], ["SUB_IF_API_FLAG_MASK_VNET", 254], ["SUB_IF_API_FLAG_DOT1AH", 256], {"enumtype": "u32"}],
      ["if_type", ["IF_API_TYPE_HARDWARE", 0], ["IF_API_TYPE_SUB", 1], ["IF_API_TYPE_P2P", 2], ["IF_API_TYPE_PIPE", 3], {"enumtype": "u32"}],
    ],
    enumflags: [],
    aliases: {"interface_index": {"type": "u32"}, "mac_address": {"type": "u8", "length": 6}},
    services: {
      want_interface_events: {"reply": "want_interface_events_reply", "events": ["sw_interface_event"]},
      sw_interface_set_flags: {"reply": "sw_interface_set_flags_reply"},
      sw_interface_dump: {"reply": "sw_interface_details", "stream": true},
    },
  },
  {
    module: "l2",
    vl_api_version: "0x1a53d6cc",
    messages: [
      ["sw_interface_set_l2_bridge", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["vl_api_interface_index_t", "rx_sw_if_index"], ["u32", "bd_id"], ["vl_api_l2_port_type_t", "port_type"], ["u8", "shg"], ["bool", "enable", {"default": "true"}], {"crc": "0xd0678b13"}],
      ["sw_interface_set_l2_bridge_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804"}],
      ["l2fib_add_del", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["vl_api_mac_address_t", "mac"], ["u32", "bd_id"], ["vl_api_interface_index_t", "sw_if_index"], ["bool", "is_add", {"default": "true"}], ["bool", "static_mac"], ["bool", "filter_mac"], ["bool", "bvi_mac"], {"crc": "0xeddda487"}],
      ["l2fib_add_del_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804"}],
      ["bridge_domain_add_del", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["u32", "bd_id"], ["bool", "flood"], ["bool", "uu_flood"], ["bool", "forward"], ["bool", "learn"], ["bool", "arp_term"], ["bool", "arp_ufwd"], ["u8", "mac_age"], ["string", "bd_tag", 64], ["bool", "is_add", {"default": "true"}], {"crc": "0x600b7170", "options": {"deprecated": null}}],
      ["bridge_domain_add_del_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804", "options": {"deprecated": null}}],
      ["bridge_domain_add_del_v2", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["u32", "bd_id"], ["bool", "flood"], ["bool", "uu_flood"], ["bool", "forward"], ["bool", "learn"], ["bool", "arp_term"], ["bool", "arp_ufwd"], ["u8", "mac_age"], ["string", "bd_tag", 64], ["bool", "is_add", {"default": "true"}], {"crc": "0x600b7170"}],
      ["bridge_domain_add_del_v2_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], ["u32", "bd_id"], {"crc": "0xfcb1e980"}],
      ["bridge_domain_dump", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["u32", "bd_id", {"default": 4294967295}], ["vl_api_interface_index_t", "sw_if_index", {"default": 4294967295}], {"crc": "0x74396a43"}],
      ["bridge_domain_details", ["u16", "_vl_msg_id"], ["u32", "context"], ["u32", "bd_id"], ["bool", "flood"], ["bool", "uu_flood"], ["bool", "forward"], ["bool", "learn"], ["bool", "arp_term"], ["bool", "arp_ufwd"], ["u8", "mac_age"], ["string", "bd_tag", 64], ["vl_api_interface_index_t", "bvi_sw_if_index"], ["vl_api_interface_index_t", "uu_fwd_sw_if_index"], ["u32", "n_sw_ifs"], ["vl_api_bridge_domain_sw_if_t", "sw_if_details", 0, "n_sw_ifs"], {"crc": "0x0fa506fd"}],
    ],
    types: [
      ["bridge_domain_sw_if", ["u32", "context"], ["vl_api_interface_index_t", "sw_if_index"], ["u8", "shg"]],
    ],
    unions: [],
    enums: [
      ["l2_port_type", ["L2_API_PORT_TYPE_NORMAL", 0], ["L2_API_PORT_TYPE_BVI", 1], ["L2_API_PORT_TYPE_UU_FWD", 2], {"enumtype": "u32"}],
    ],
    enumflags: [],
    aliases: {"mac_address": {"type": "u8", "length": 6}, "interface_index": {"type": "u32"}},
    services: {
      l2fib_add_del: {"reply": "l2fib_add_del_reply"},
      bridge_domain_add_del: {"reply": "bridge_domain_add_del_reply"},
      bridge_domain_add_del_v2: {"reply": "bridge_domain_add_del_v2_reply"},
      bridge_domain_dump: {"reply": "bridge_domain_details", "stream": true},
      sw_interface_set_l2_bridge: {"reply": "sw_interface_set_l2_bridge_reply"},
    },
  },
  {
    module: "memif",
    vl_api_version: "0xd48ac702",
    messages: [
      ["memif_socket_filename_add_del", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["bool", "is_add"], ["u32", "socket_id"], ["string", "socket_filename", 108], {"crc": "0xa2ce1a10", "options": {"deprecated": null}}],
      ["memif_socket_filename_add_del_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804", "options": {"deprecated": null}}],
      ["memif_socket_filename_add_del_v2", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["bool", "is_add"], ["u32", "socket_id", {"default": 4294967295}], ["string", "socket_filename", 0], {"crc": "0x34223bdf"}],
      ["memif_socket_filename_add_del_v2_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], ["u32", "socket_id"], {"crc": "0x9f29bdb9"}],
      ["memif_create", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["vl_api_memif_role_t", "role"], ["vl_api_memif_mode_t", "mode"], ["u8", "rx_queues"], ["u8", "tx_queues"], ["u32", "id"], ["u32", "socket_id"], ["u32", "ring_size"], ["u16", "buffer_size"], ["bool", "no_zero_copy"], ["vl_api_mac_address_t", "hw_addr"], ["string", "secret", 24], {"crc": "0xb1b25061", "options": {"deprecated": null}}],
      ["memif_create_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], ["vl_api_interface_index_t", "sw_if_index"], {"crc": "0x5383d31f", "options": {"deprecated": null}}],
      ["memif_create_v2", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["vl_api_memif_role_t", "role"], ["vl_api_memif_mode_t", "mode"], ["u8", "rx_queues"], ["u8", "tx_queues"], ["u32", "id"], ["u32", "socket_id"], ["u32", "ring_size"], ["u16", "buffer_size"], ["bool", "no_zero_copy"], ["bool", "use_dma"], ["vl_api_mac_address_t", "hw_addr"], ["string", "secret", 24], {"crc": "0x8c7de5f7"}],
      ["memif_create_v2_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], ["vl_api_interface_index_t", "sw_if_index"], {"crc": "0x5383d31f"}],
      ["memif_delete", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], ["vl_api_interface_index_t", "sw_if_index"], {"crc": "0xf9e6675e"}],
      ["memif_delete_reply", ["u16", "_vl_msg_id"], ["u32", "context"], ["i32", "retval"], {"crc": "0xe8d4e804"}],
      ["memif_dump", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], {"crc": "0x51077d14"}],
      ["memif_details", ["u16", "_vl_msg_id"], ["u32", "context"], ["vl_api_interface_index_t", "sw_if_index"], ["vl_api_mac_address_t", "hw_addr"], ["u32", "id"], ["vl_api_memif_role_t", "role"], ["vl_api_memif_mode_t", "mode"], ["bool", "zero_copy"], ["u32", "socket_id"], ["u32", "ring_size"], ["u16", "buffer_size"], ["vl_api_if_status_flags_t", "flags"], ["string", "if_name", 64], {"crc": "0xda34feb9"}],
      ["memif_socket_filename_dump", ["u16", "_vl_msg_id"], ["u32", "client_index"], ["u32", "context"], {"crc": "0x51077d14"}],
      ["memif_socket_filename_details", ["u16", "_vl_msg_id"], ["u32", "context"], ["u32", "socket_id"], ["string", "socket_filename", 108], {"crc": "0x7ff326f7"}],
    ],
    types: [],
    unions: [],
    enums: [
      ["if_status_flags", ["IF_STATUS_API_FLAG_ADMIN_UP", 1], ["IF_STATUS_API_FLAG_LINK_UP", 2], {"enumtype": "u32"}],
      ["memif_role", ["MEMIF_ROLE_API_MASTER", 0], ["MEMIF_ROLE_API_SLAVE", 1], {"enumtype": "u32"}],
      ["memif_mode", ["MEMIF_MODE_API_ETHERNET", 0], ["MEMIF_MODE_API_IP", 1], ["MEMIF_MODE_API_PUNT_INJECT", 2], {"enumtype": "u32"}],
    ],
    enumflags: [],
    aliases: {"interface_index": {"type": "u32"}, "mac_address": {"type": "u8", "length": 6}},
    services: {
      memif_socket_filename_add_del: {"reply": "memif_socket_filename_add_del_reply"},
      memif_socket_filename_add_del_v2: {"reply": "memif_socket_filename_add_del_v2_reply"},
      memif_create: {"reply": "memif_create_reply"},
      memif_create_v2: {"reply": "memif_create_v2_reply"},
      memif_delete: {"reply": "memif_delete_reply"},
      memif_socket_filename_dump: {"reply": "memif_socket_filename_details", "stream": true},
      memif_dump: {"reply": "memif_details", "stream": true},
    },
  },
];
