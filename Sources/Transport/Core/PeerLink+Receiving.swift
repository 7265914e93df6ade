/// The receiving half of a link: frames of an authenticated payload, reassembly within the
/// memory budgets, exactly-once delivery and the acknowledgements owed for it.
extension PeerLink {
    enum ChunkOutcome { case stored, duplicate, refused, invalid }

    /// Handles the decrypted payload of a data datagram. A packet is acknowledged only if all
    /// its chunks were kept: a chunk refused for lack of memory must be sent again.
    mutating func receive(payload: UnsafeRawBufferPointer, counter: UInt64, now: Duration, context: inout LinkContext) {
        var parser = FrameParser(payload)
        var ackEliciting = false, refused = false, completed = false, ackNow = false
        do {
            guard !payload.isEmpty else { throw FrameParser.Malformed() }
            while let frame = try parser.next() {
                switch frame {
                case let .ack(ack):
                    guard process(ack, now: now, context: &context) else { throw FrameParser.Malformed() }
                case .ackNow:
                    ackNow = true
                case let .chunk(chunk):
                    ackEliciting = true
                    switch receive(chunk, now: now, completed: &completed, context: &context) {
                    case .stored, .duplicate: break
                    case .refused: refused = true
                    case .invalid: throw FrameParser.Malformed()
                    }
                }
            }
        } catch {
            context.metrics[.malformed] += 1
            return
        }
        guard !refused else { return }
        acks.record(counter, ackEliciting: ackEliciting, now: now, configuration: context.configuration)
        if completed || ackNow { acks.hurry(now: now) }
    }

    private func inboundSlot(of number: UInt64) -> Int? { inbound.firstIndex { $0.number == number } }

    private mutating func receive(_ chunk: ChunkFrame, now: Duration, completed: inout Bool,
                                  context: inout LinkContext) -> ChunkOutcome {
        let configuration = context.configuration
        guard chunk.messageLength <= configuration.maxMessageSize, chunk.messageID < Varint.max else { return .invalid }
        let number = chunk.messageID
        if ledger.wasDelivered(number) {
            context.metrics.duplicateChunks += 1
            return .duplicate
        }
        let floor = ledger.makeRoom(for: number)
        while let stale = inbound.firstIndex(where: { $0.number < floor }) {
            releaseInbound(at: stale, context: &context)
            context.metrics.reassembliesAbandoned += 1
        }
        let slot: Int
        if let existing = inboundSlot(of: number) {
            guard inbound[existing].length == chunk.messageLength, inbound[existing].chunkSize == chunk.chunkSize else {
                return .invalid
            }
            slot = existing
        } else {
            if ChunkFrame.chunkCount(messageLength: chunk.messageLength, chunkSize: chunk.chunkSize) == 1 {
                deliver(Array(chunk.data), number: number, context: &context)
                completed = true
                return .stored
            }
            let cost = InboundMessage.cost(length: chunk.messageLength, chunkSize: chunk.chunkSize)
            guard inboundBytes + cost <= configuration.peerReassemblyLimit,
                  context.reassemblyBytes + cost <= configuration.totalReassemblyLimit else {
                context.metrics[.reassemblyFull] += 1
                return .refused
            }
            inbound.append(InboundMessage(number: number, length: chunk.messageLength, chunkSize: chunk.chunkSize, now: now))
            inboundBytes += cost
            context.reassemblyBytes += cost
            slot = inbound.count - 1
        }
        guard inbound[slot].store(chunk, now: now) else {
            context.metrics.duplicateChunks += 1
            return .duplicate
        }
        if inbound[slot].isComplete {
            let bytes = inbound[slot].takeBuffer()
            releaseInbound(at: slot, context: &context)
            deliver(bytes, number: number, context: &context)
            completed = true
        }
        return .stored
    }

    private mutating func deliver(_ bytes: [UInt8], number: UInt64, context: inout LinkContext) {
        ledger.markDelivered(number)
        context.metrics.messagesDelivered += 1
        context.outbox.append(.deliver(bytes, from: peer))
    }
}
