import Crypto
import Foundation
import FuzzFixtures
import Testing
import TestKit
@testable import Transport

/// Bounded mutation fuzzing of every Transport decoder (the libFuzzer side is Fuzz/, scripts/fuzz.sh):
/// hostile bytes must end in a thrown error, and whatever is accepted must survive a round trip.
@Suite struct TransportFuzzTests {
    @Test func peersFileParserOnlyAcceptsWhatRendersBack() {
        let report = fuzz("peers-file") { bytes in
            guard let text = String(validating: bytes, as: UTF8.self) else { return .rejected }
            let peers: PeersFile
            do throws(PeersFileError) { peers = try PeersFile.parse(text, file: "fuzz") } catch {
                return error.problem.isEmpty || error.line.map({ $0 < 1 }) == true ? .violation("error without a place: \(error)") : .rejected
            }
            guard let again = try? PeersFile.parse(peers.render(), file: "rendered"), again == peers else {
                return .violation("render() does not parse back to the same peers")
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    @Test func endpointParserOnlyAcceptsWhatPrintsBack() {
        let report = fuzz("endpoint", maxLength: 512) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            let endpoint: Endpoint
            do throws(EndpointError) { endpoint = try Endpoint(parsing: text) } catch {
                return error.message.isEmpty ? .violation("empty error message") : .rejected
            }
            guard (try? Endpoint(parsing: endpoint.description)) == endpoint, endpoint.port > 0 else {
                return .violation("'\(endpoint)' does not parse back to itself")
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }

    @Test func keyFileParserOnlyAcceptsOneThirtyTwoByteKey() {
        let report = fuzz("key-file", maxLength: 4096) { bytes in
            let pair: KeyPair
            do throws(KeyFileError) { pair = try KeyFile.parse(Data(bytes), file: "fuzz.key") } catch {
                return error.file == "fuzz.key" && !error.problem.isEmpty ? .rejected : .violation("error without a place: \(error)")
            }
            // The one key line, re-read on its own, must give the same key pair.
            let rewritten = KeyFile.header + "\n" + Base64.encode(pair.secretKey.copyBytes()) + "\n"
            guard (try? KeyFile.parse(Data(rewritten.utf8), file: "rewritten"))?.publicKey == pair.publicKey else {
                return .violation("accepted key does not survive a rewrite")
            }
            return .accepted
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }
}

@Suite struct TransportDatagramFuzzTests {
    @Test func receivingStateMachineSurvivesHostileDatagrams() throws {
        let fixture = try DatagramFuzzFixture()
        let report = fuzz("transport-datagram", extraSeeds: DatagramFuzzFixture.seeds, dictionary: FuzzDictionary.binary,
                          maxLength: 4096) { input in
            let (problem, delivered) = fixture.run(input)
            if let problem { return .violation(problem) }
            return delivered > 0 ? .accepted : .rejected
        }
        #expect(report.isClean, "\(report)")
        #expect(report.inputs == defaultFuzzInputs && report.accepted > 0 && report.rejected > 0, "\(report)")
    }
}
