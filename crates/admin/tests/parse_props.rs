#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use redis_stretch_admin::{
    ClusterInfo, ClusterNodes, ClusterState, ReplicationInfo, ServerFlavour, ServerInfo,
};
use redis_stretch_model::SlotRange;

const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail? - 0 1426238318243 3 disconnected 10923-16383 [42->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 7
6ec23923021cf3ffec47632106199cb7f496ce01 :0@0 master,noaddr,handshake - 1426238316232 0 0 connected
";

#[test]
fn real_cluster_nodes_reply() {
    let n = ClusterNodes::parse(NODES).unwrap();
    assert_eq!(n.nodes.len(), 5);
    let me = n.myself().unwrap();
    assert_eq!(me.addr.as_ref().unwrap().to_string(), "127.0.0.1:30001");
    assert_eq!(
        me.slots,
        vec![
            SlotRange {
                start: 0,
                end: 5460
            },
            SlotRange { start: 7, end: 7 }
        ]
    );
    let r = &n.nodes[0];
    assert!(r.flags.replica);
    assert_eq!(r.hostname.as_deref(), Some("host4"));
    assert_eq!(r.master_id.as_deref(), Some(me.id.as_str()));
    let suspect = &n.nodes[2];
    assert!(suspect.flags.pfail && !suspect.flags.fail && !suspect.link_connected);
    assert_eq!(suspect.migrating_slots, vec![42]);
    assert!(n.nodes[4].addr.is_none() && n.nodes[4].flags.handshake);
}

#[test]
fn malformed_lines_name_the_line() {
    let e = ClusterNodes::parse(
        "07c37dfeb235213a872192d90877d0cd55635b91 1.2.3.4:1@2 master - 0 0 x connected",
    )
    .unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("config-epoch"), "{e}");
    let bad_slot = NODES.replace("0-5460", "0-99999");
    assert!(ClusterNodes::parse(&bad_slot)
        .unwrap_err()
        .message
        .contains("99999"));
    let backwards = NODES.replace("0-5460", "5460-0");
    assert!(ClusterNodes::parse(&backwards).is_err());
}

#[test]
fn cluster_info_reply() {
    let i = ClusterInfo::parse(
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:6\r\n\
         cluster_size:3\r\ncluster_current_epoch:6\r\ncluster_my_epoch:2\r\n",
    )
    .unwrap();
    assert_eq!(i.state, ClusterState::Ok);
    assert_eq!((i.size, i.known_nodes, i.current_epoch), (3, 6, 6));
    assert!(ClusterInfo::parse("cluster_state:maybe\r\n").is_err());
    assert!(ClusterInfo::parse("cluster_size:3\r\n").is_err());
}

#[test]
fn replication_info_replies() {
    let m = ReplicationInfo::parse(
        "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
         slave0:ip=127.0.2.2,port=7004,state=online,offset=1234,lag=0\r\n\
         master_failover_state:no-failover\r\nmaster_repl_offset:1234\r\n",
    )
    .unwrap();
    match m {
        ReplicationInfo::Master {
            master_repl_offset,
            replicas,
        } => {
            assert_eq!(master_repl_offset, 1234);
            assert_eq!(replicas[0].port, 7004);
            assert_eq!(replicas[0].state, "online");
            assert_eq!(replicas[0].lag, Some(0));
        }
        other => panic!("expected master, got {other:?}"),
    }
    // Valkey, a replica that connected but never acknowledged: `lag=-1`, no lag to count.
    let v = ReplicationInfo::parse(
        "role:master\r\nconnected_slaves:1\r\n\
         slave0:ip=127.0.2.2,port=7004,state=online,offset=0,lag=-1,type=replica\r\n\
         master_repl_offset:0\r\n",
    )
    .unwrap();
    match v {
        ReplicationInfo::Master { replicas, .. } => assert_eq!(replicas[0].lag, None),
        other => panic!("expected master, got {other:?}"),
    }
    assert!(ReplicationInfo::parse(
        "role:master\r\nslave0:ip=a,port=1,state=online,offset=0,lag=-x\r\nmaster_repl_offset:0\r\n"
    )
    .is_err());
    let r = ReplicationInfo::parse(
        "role:slave\r\nmaster_host:127.0.1.1\r\nmaster_port:7000\r\nmaster_link_status:up\r\n\
         master_sync_in_progress:0\r\nslave_read_repl_offset:99\r\nslave_repl_offset:98\r\n\
         slave_priority:100\r\nslave_read_only:1\r\n",
    )
    .unwrap();
    assert_eq!(
        r,
        ReplicationInfo::Replica {
            master_host: "127.0.1.1".into(),
            master_port: 7000,
            link_up: true,
            sync_in_progress: false,
            link_down_since_s: None,
            repl_offset: 98
        }
    );
    assert!(ReplicationInfo::parse("role:sentinel\r\n").is_err());
    assert!(ReplicationInfo::parse("role:slave\r\n").is_err());
}

const REDIS_SERVER_INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n\
redis_git_dirty:0\r\nredis_build_id:d81b8ff71cfb150e\r\nredis_mode:cluster\r\nos:Linux 6.8.0 x86_64\r\n\
arch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\n\
gcc_version:13.2.0\r\nprocess_id:4242\r\nrun_id:1f0e5e1c9a3f4ab2\r\ntcp_port:7000\r\n\
executable:/usr/bin/redis-server\r\nconfig_file:/tmp/x/redis.conf\r\n";

const VALKEY_SERVER_INFO: &str = "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\n\
valkey_version:8.0.1\r\nredis_git_sha1:00000000\r\nredis_mode:cluster\r\nos:Linux 6.8.0 x86_64\r\n\
tcp_port:7000\r\n";

#[test]
fn server_info_replies() {
    let r = ServerInfo::parse(REDIS_SERVER_INFO).unwrap();
    assert_eq!(
        r,
        ServerInfo {
            flavour: ServerFlavour::Redis,
            version: "7.0.15".into()
        }
    );
    assert_eq!(r.major(), Some(7));
    // Valkey's redis_version is a compatibility constant: its own version wins.
    let v = ServerInfo::parse(VALKEY_SERVER_INFO).unwrap();
    assert_eq!(v.flavour, ServerFlavour::Valkey);
    assert_eq!(v.version, "8.0.1");
    assert_eq!(v.major(), Some(8));
    // Without server_name, a valkey_version still says Valkey.
    let v = ServerInfo::parse("redis_version:7.2.4\nvalkey_version:7.2.5\n").unwrap();
    assert_eq!(
        (v.flavour, v.version.as_str()),
        (ServerFlavour::Valkey, "7.2.5")
    );
    let unstable = ServerInfo::parse("redis_version:255.255.255\r\n").unwrap();
    assert_eq!(unstable.major(), Some(255));
}

/// The head of `INFO server` from the two other tested binaries (scripts/deps.sh): Valkey 9.1
/// names its mode `server_mode`, Redis 8.2 still has no `server_name`.
const VALKEY_9_SERVER_INFO: &str = "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\n\
valkey_version:9.1.2\r\nvalkey_release_stage:ga\r\nredis_git_sha1:13710afe\r\nredis_git_dirty:0\r\n\
redis_build_id:3b081598bf4f676e\r\nserver_mode:cluster\r\nos:Linux 6.18.44 x86_64\r\n";
const REDIS_8_SERVER_INFO: &str = "# Server\r\nredis_version:8.2.3\r\nredis_git_sha1:b5d43ceb\r\n\
redis_git_dirty:0\r\nredis_build_id:a4a1616166d42ee6\r\nredis_mode:cluster\r\n\
os:Linux 6.18.44 x86_64\r\narch_bits:64\r\n";

#[test]
fn the_four_tested_versions_and_how_each_moves_slots() {
    use redis_stretch_admin::MigrationMethod;
    let cases = [
        (
            REDIS_SERVER_INFO,
            ServerFlavour::Redis,
            "7.0.15",
            MigrationMethod::Classic,
        ),
        (
            VALKEY_SERVER_INFO,
            ServerFlavour::Valkey,
            "8.0.1",
            MigrationMethod::Classic,
        ),
        (
            VALKEY_9_SERVER_INFO,
            ServerFlavour::Valkey,
            "9.1.2",
            MigrationMethod::Atomic,
        ),
        (
            REDIS_8_SERVER_INFO,
            ServerFlavour::Redis,
            "8.2.3",
            MigrationMethod::Classic,
        ),
    ];
    for (text, flavour, version, method) in cases {
        let info = ServerInfo::parse(text).unwrap();
        assert_eq!((info.flavour, info.version.as_str()), (flavour, version));
        assert_eq!(info.migration_method(), method, "{info:?}");
    }
}

/// Valkey 9.1 adds `type=replica` to each replica's line of a master's `INFO replication`.
#[test]
fn valkey_9_replica_lines() {
    let text = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nmin_slaves_good_slaves:1\r\n\
slave0:ip=127.0.2.2,port=7002,state=online,offset=14,lag=1,type=replica\r\n\
replicas_waiting_psync:0\r\nmaster_failover_state:no-failover\r\nmaster_repl_offset:14\r\n";
    let ReplicationInfo::Master {
        master_repl_offset,
        replicas,
    } = ReplicationInfo::parse(text).unwrap()
    else {
        panic!("not a master");
    };
    assert_eq!(master_repl_offset, 14);
    assert_eq!(
        (replicas[0].port, replicas[0].offset, replicas[0].lag),
        (7002, 14, Some(1))
    );
}

#[test]
fn malformed_server_info_names_the_line() {
    let e = ServerInfo::parse("# Server\r\nredis_mode:cluster\r\n").unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.message.contains("without redis_version"), "{e}");
    let e = ServerInfo::parse("# Server\r\nredis_version:\r\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("redis_version"), "{e}");
    let e = ServerInfo::parse("redis_version:seven\n").unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("`seven`"), "{e}");
    let e = ServerInfo::parse("redis_version:7.2.4\nserver_name:keydb\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("keydb"), "{e}");
    // A Valkey that does not say its own version is not read as the compatibility one.
    let e = ServerInfo::parse("redis_version:7.2.4\nserver_name:valkey\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("valkey_version"), "{e}");
}

fn node_id() -> impl Strategy<Value = String> {
    "[0-9a-f]{40}"
}

prop_compose! {
    fn node_line()(
        id in node_id(),
        a in 1u8..=254, b in 0u8..=255, port in 1u16..55000,
        master in prop::option::of(node_id()),
        flags in prop::sample::subsequence(vec!["myself", "fail?", "fail", "nofailover"], 0..3),
        epoch in 0u64..1000,
        connected in any::<bool>(),
        starts in prop::collection::btree_set(0u16..16384, 0..6),
    ) -> (String, usize) {
        let role = if master.is_some() { "slave" } else { "master" };
        let mut f: Vec<&str> = flags;
        f.push(role);
        let slots: Vec<String> = if master.is_none() {
            starts.iter().map(|s| format!("{s}-{s}")).collect()
        } else { vec![] };
        let line = format!(
            "{id} 127.{a}.{b}.1:{port}@{} {} {} 0 0 {epoch} {} {}",
            u32::from(port) + 10000,
            f.join(","),
            master.unwrap_or_else(|| "-".into()),
            if connected { "connected" } else { "disconnected" },
            slots.join(" "),
        );
        (line, slots.len())
    }
}

proptest! {
    #[test]
    fn valid_lines_parse_to_what_they_say(lines in prop::collection::vec(node_line(), 1..8)) {
        let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
        let parsed = ClusterNodes::parse(&text).unwrap();
        prop_assert_eq!(parsed.nodes.len(), lines.len());
        for (node, (_, slots)) in parsed.nodes.iter().zip(&lines) {
            prop_assert_eq!(node.slots.len(), *slots);
            prop_assert_eq!(node.flags.replica, node.master_id.is_some());
        }
    }

    #[test]
    fn garbage_never_panics(text in "\\PC*") {
        let _ = ClusterNodes::parse(&text);
        let _ = ClusterInfo::parse(&text);
        let _ = ReplicationInfo::parse(&text);
        let _ = ServerInfo::parse(&text);
    }

    #[test]
    fn server_info_reads_what_it_says(
        valkey in any::<bool>(),
        named in any::<bool>(),
        version in "[0-9]{1,3}(\\.[0-9]{1,3}){0,2}(-rc[0-9])?",
        other in prop::collection::vec(("[a-z_]{1,12}", "[ -~]{0,20}"), 0..6),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("# Server{nl}redis_version:{}{nl}", if valkey { "7.2.4" } else { &version });
        for (k, v) in &other {
            if !k.ends_with("_version") && k != "server_name" {
                text.push_str(&format!("{k}:{v}{nl}"));
            }
        }
        if valkey {
            if named {
                text.push_str(&format!("server_name:valkey{nl}"));
            }
            text.push_str(&format!("valkey_version:{version}{nl}"));
        }
        let info = ServerInfo::parse(&text).unwrap();
        let flavour = if valkey { ServerFlavour::Valkey } else { ServerFlavour::Redis };
        prop_assert_eq!(info.flavour, flavour);
        prop_assert_eq!(info.version, version);
    }

    #[test]
    fn mutated_server_info_never_panics(cut in 0usize..VALKEY_SERVER_INFO.len(), junk in "[ :\\r\\n.#a-z_0-9\\x00-\\x1f\\u{e9}]{0,12}") {
        let mut text = VALKEY_SERVER_INFO.to_owned();
        let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &junk);
        if let Err(e) = ServerInfo::parse(&text) {
            prop_assert!(e.line <= text.lines().count(), "{}", e);
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn mutated_replies_never_panic(cut in 0usize..NODES.len(), junk in "[ :@,\\-\\[\\]>0-9a-z?]{0,12}") {
        let mut text = NODES.to_owned();
        let at = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.insert_str(at, &junk);
        let _ = ClusterNodes::parse(&text);
    }
}
