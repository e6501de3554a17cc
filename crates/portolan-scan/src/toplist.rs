//! Portolan's own ranking of commonly exposed TCP ports, used by `--top-ports` when no
//! `nmap-services` frequency file is installed.
//!
//! How it was built (see docs/scan.md, "Top ports"): the head is a hand-curated list of the
//! services defenders most often find exposed on networks, grouped by what they are — web, remote
//! administration, mail, name and directory services, file sharing, databases and caches,
//! messaging, container and orchestration APIs, VPN and proxies, printing, VoIP and ICS — each
//! checked against its IANA registration or a vendor's documented default port. It is followed by
//! every TCP port of the project's risk knowledge (`portolan-registry` `data/risks.toml`) not
//! already listed, then IANA-assigned system ports (1-1023) in order, then IANA-assigned user ports
//! (1024-49151) in order, then everything else in order. The ranking is therefore total over
//! 1-65535 and deterministic. It is not derived from nmap's frequency data.

/// The curated head of the ranking, most commonly exposed first.
pub const CURATED: &[u16] = &[
    // web
    80, 443, 8080, 8443, 8000, 8888, 8008, 8081, 3000, 5000, 81, 8001, 9000, 9443, 7001,
    // remote administration
    22, 3389, 23, 5900, 5985, 5986, 2222, 10000, 5901, 4899, 5800, 513, 514, 512, // mail
    25, 587, 465, 110, 995, 143, 993, 2525, // name, directory, time, auth
    53, 389, 636, 88, 464, 3268, 3269, 113, 123, 749, // file sharing and RPC
    445, 139, 135, 21, 990, 2049, 111, 873, 548, 69, 989, 20, // databases and caches
    3306, 5432, 1433, 1521, 6379, 27017, 11211, 9200, 9300, 5984, 7474, 8086, 9042, 26257, 1434,
    50000, 28017, 8529, 7000, 9160, // messaging and streaming
    5672, 15672, 1883, 8883, 61616, 9092, 2181, 4369, 5222, 5269, 6667,
    // containers, orchestration, cloud-native
    2375, 2376, 6443, 10250, 10255, 2379, 2380, 8500, 4646, 9090, 9100, 3100, 8200,
    // VPN, proxies, tunnels
    1723, 1194, 3128, 1080, 8118, 500, 4500, 1701, // printing and discovery
    631, 515, 9100, 5353, 1900, 427, // VoIP, video
    5060, 5061, 1720, 554, 1935, // management and monitoring
    161, 162, 199, 623, 5666, 10050, 10051, 8291, 8728, 8729, 7547, 49152, 49153, 49154,
    // ICS and building automation
    502, 102, 20000, 44818, 47808, 1911, 2404, 789, // remaining classics
    79, 109, 119, 179, 179, 194, 220, 443, 444, 497, 543, 544, 1025, 1026, 1027, 1099, 1812, 2000,
    2001, 2049, 2082, 2083, 2086, 2087, 2095, 2096, 3260, 3690, 4443, 4848, 5432, 5631, 5632, 6000,
    6001, 6660, 7070, 8009, 8010, 8069, 8082, 8088, 8089, 8090, 8161, 8180, 8880, 8983, 9001, 9080,
    9091, 9418, 9999, 10443, 11000, 32768,
];
