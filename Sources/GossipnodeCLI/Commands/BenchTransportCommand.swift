import Foundation
import Node
import Transport

/// `gossipnode bench-transport`: the transport on loopback against plain UDP, in one process.
enum BenchTransportCommand {
    static let command = Command(
        name: "bench-transport",
        abstract: "Measure the encrypted transport on loopback against plain UDP.",
        discussion: """
        Sends one message between two endpoints on 127.0.0.1 (a sending and a receiving thread,
        session already set up by a one-byte message) and compares the throughput with unencrypted UDP datagrams of the same size sent by a
        minimal sender/receiver, measured right before it in the same run; the ratio is the
        median over --runs of these paired ratios. CPU time of both threads is reported too, a
        figure that other load on the machine does not distort. Then repeats with --loss of the
        datagrams dropped in both directions and reports the bytes on the wire relative to the
        message size. Ends with one JSON line.
        """,
        options: [
            .value("size", "bytes", help: "Message size.", default: "4194304"),
            .value("mtu", "bytes", help: "Largest datagram.", default: "1232"),
            .value("loss", "fraction", help: "Share of datagrams dropped in the lossy run.", default: "0.1"),
            .value("runs", "n", help: "Repetitions of each measurement.", default: "9"),
        ],
        run: { args, console in
            let size = try args.int("size", in: 1...(64 << 20))!
            let runs = try args.int("runs", in: 1...100)!
            let loss = try args.double("loss", in: 0...0.5)!
            var configuration = TransportConfiguration()
            configuration.mtu = try args.int("mtu", in: TransportConfiguration.minimumMTU...TransportConfiguration.maximumMTU)!
            try configuration.validate()

            var raw: [LoopbackBenchmark.RawRun] = [], ours: [LoopbackBenchmark.TransportRun] = []
            for run in 1...runs {
                let r = try LoopbackBenchmark.raw(totalBytes: size, datagramSize: configuration.mtu)
                let o = try LoopbackBenchmark.transport(messageBytes: size, configuration: configuration, seed: UInt64(run))
                guard o.intact else { throw RuntimeFailure(description: "message arrived corrupted (run \(run))") }
                console.err(String(format: "run %d: raw UDP %.1f MB/s (%d of %d bytes arrived, %.1f ms CPU), transport %.1f MB/s (%d datagrams, %.1f ms CPU)",
                                   run, r.bytesPerSecond / 1e6, r.bytesReceived, size, r.cpuSeconds * 1e3,
                                   Double(size) / o.seconds / 1e6, o.datagrams, (o.senderCPUSeconds + o.receiverCPUSeconds) * 1e3)
                            + String(format: " [sender %.1f, receiver %.1f]", o.senderCPUSeconds * 1e3, o.receiverCPUSeconds * 1e3))
                raw.append(r)
                ours.append(o)
            }
            let core = median(try (1...runs).map { _ in Double(size) / (try LoopbackBenchmark.core(messageBytes: size, configuration: configuration)) })
            console.err(String(format: "sans-IO core alone (both ends in one thread, no sockets): %.1f MB/s", core / 1e6))
            var lossy: [LoopbackBenchmark.TransportRun] = []
            for run in 1...runs {
                let o = try LoopbackBenchmark.transport(messageBytes: size, configuration: configuration, loss: loss, seed: UInt64(100 + run))
                guard o.intact else { throw RuntimeFailure(description: "message arrived corrupted (lossy run \(run))") }
                console.err(String(format: "lossy run %d: %.3f x message size on the wire, %d datagrams, %d chunks resent, %.3f s",
                                   run, Double(o.wireBytes) / Double(size), o.datagrams, o.chunksRetransmitted, o.seconds))
                lossy.append(o)
            }
            let rawRate = median(raw.map(\.bytesPerSecond))
            let ourRate = median(ours.map { Double(size) / $0.seconds })
            let pairedRatio = median(zip(raw, ours).map { Double(size) / $1.seconds / $0.bytesPerSecond })
            let rawCPU = median(raw.map { $0.cpuSeconds / Double($0.bytesReceived) })
            let ourCPU = median(ours.map { ($0.senderCPUSeconds + $0.receiverCPUSeconds) / Double(size) })
            let wire = median(lossy.map { Double($0.wireBytes) })
            let wireWithHeaders = median(lossy.map { Double($0.wireBytes + 28 * $0.datagrams) })
            let number = ReportText.jsonFixed
            let fields: [(String, String)] = [
                ("bench", "\"transport\""), ("message_bytes", "\(size)"), ("mtu", "\(configuration.mtu)"), ("runs", "\(runs)"),
                ("raw_mb_s", number(rawRate / 1e6, 4)), ("ours_mb_s", number(ourRate / 1e6, 4)), ("core_only_mb_s", number(core / 1e6, 4)),
                ("throughput_ratio", number(pairedRatio, 4)), ("throughput_target", "0.5"),
                ("raw_cpu_ns_per_byte", number(rawCPU * 1e9, 4)), ("ours_cpu_ns_per_byte", number(ourCPU * 1e9, 4)),
                ("cpu_efficiency_ratio", number(rawCPU / ourCPU, 4)), ("load_average", number(loadAverage(), 4)),
                ("loss", number(loss, 4)), ("lossy_wire_bytes", "\(Int(wire))"),
                ("wire_ratio", number(wire / Double(size), 4)),
                ("wire_ratio_with_ip_udp_headers", number(wireWithHeaders / Double(size), 4)), ("wire_limit", "1.3"),
            ]
            console.out("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
            return ExitCode.success
        })

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// The 1-minute load average: other work on the machine skews wall-clock figures.
    static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first, let value = Double(first) else { return -1 }
        return value
    }
}
