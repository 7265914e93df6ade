/// The sending half of a link: chunk selection, datagram assembly, acknowledgements, loss
/// detection (packet and time thresholds of RFC 9002 §6) and retransmission timeouts.
extension PeerLink {
    /// At most this many multi-chunk messages probe the receiver's admission at once.
    static let maxConcurrentProbes = 4
    static let recentlyLostLimit = 256

    mutating func enqueue(_ bytes: [UInt8], now: Duration, context: inout LinkContext) -> MessageID {
        let number = nextMessageNumber
        nextMessageNumber += 1
        outgoing.append(OutgoingMessage(number: number, bytes: bytes, chunkSize: context.configuration.chunkSize,
                                        deadline: now + context.configuration.messageTimeout))
        context.metrics.messagesQueued += 1
        return MessageID(peer: peer, number: number)
    }

    /// Where message `number` sits in `outgoing`, if it is unfinished.
    func slot(of number: UInt64) -> Int? {
        var low = 0, high = outgoing.count
        while low < high {
            let mid = (low + high) / 2
            if outgoing[mid].number < number { low = mid + 1 } else { high = mid }
        }
        return low < outgoing.count && outgoing[low].number == number ? low : nil
    }

    /// How many messages may be transmitted: those numbered below the oldest unfinished one
    /// plus the window (see `DeliveryLedger`).
    private var openCount: Int {
        guard let first = outgoing.first else { return 0 }
        let limit = first.number + DeliveryLedger.window
        var low = 0, high = outgoing.count
        while low < high {
            let mid = (low + high) / 2
            if outgoing[mid].number < limit { low = mid + 1 } else { high = mid }
        }
        return low
    }

    var hasSendableChunk: Bool { peekChunk() != nil }

    /// The next chunk to send: round-robin over the open messages the receiver has admitted
    /// (lost chunks before new ones), so a small message is not stuck behind a large one;
    /// then one probe chunk each for a few messages not yet admitted, lowest number first.
    private func peekChunk() -> (slot: Int, index: Int, isRetransmission: Bool)? {
        let open = openCount
        guard open > 0 else { return nil }
        for k in 0..<open {
            let slot = (roundRobin + k) % open
            guard !outgoing[slot].needsProbe, let next = outgoing[slot].nextChunk else { continue }
            return (slot, next.index, next.isRetransmission)
        }
        var probing = 0
        for slot in 0..<open where outgoing[slot].needsProbe {
            if outgoing[slot].inFlightCount > 0 {
                probing += 1
                continue
            }
            guard probing < Self.maxConcurrentProbes else { return nil }
            if let next = outgoing[slot].nextChunk { return (slot, next.index, next.isRetransmission) }
        }
        return nil
    }

    /// Sends everything that is due and allowed: a hello while the peer's session is unknown,
    /// otherwise data within the congestion window and pacing, and any acknowledgement owed.
    mutating func flush(now: Duration, context: inout LinkContext) {
        pacingWakeup = nil
        if peerSession == 0 {
            if !outgoing.isEmpty, helloRetryAt == nil || helloRetryAt! <= now {
                sendHello(now: now, context: &context)
                let interval = retransmissionTimeout(context.configuration) * (1 << min(helloAttempts, 8))
                helloRetryAt = now + min(interval, context.configuration.maxRTO)
                helloAttempts += 1
            }
            return
        }
        while true {
            let ackDue = acks.deadline.map { $0 <= now } ?? false
            guard congestion.allows(bytesInFlight: inFlight.bytesInFlight) || probesAllowed > 0, let next = peekChunk() else {
                if ackDue { sendDatagram(first: nil, now: now, context: &context) }
                return
            }
            if probesAllowed == 0,
               let wait = congestion.pacingDelay(size: context.configuration.mtu, now: now, smoothedRTT: rtt.smoothed) {
                pacingWakeup = now + wait
                if ackDue { sendDatagram(first: nil, now: now, context: &context) }
                return
            }
            sendDatagram(first: next, now: now, context: &context)
        }
    }

    /// Assembles, seals and emits one data datagram: an acknowledgement if one is owed and fits
    /// beside the first chunk, then as many chunks as fit (none if `first` is nil).
    private mutating func sendDatagram(first: (slot: Int, index: Int, isRetransmission: Bool)?, now: Duration,
                                       context: inout LinkContext) {
        let configuration = context.configuration
        let room = configuration.mtu - DatagramHeader.byteCount - AEADOverhead.tag
        var ack: AckFrame? = nil
        if acks.owesAck, let frame = acks.frame(now: now) {
            // Piggyback only when the acknowledgement leaves room for the next chunk; otherwise
            // it goes alone once the data stops (flush sends it when due).
            let firstLength = first.map { ChunkFrame.headerByteCount + outgoing[$0.slot].dataLength(of: $0.index) } ?? 0
            if frame.encodedLength + firstLength <= room { ack = frame }
        }
        let counter = nextCounter
        var refs: (first: ChunkRef?, more: [ChunkRef]) = (nil, [])
        // Frames are written straight into the datagram as chunks are chosen (no lists to build).
        let datagram = [UInt8](unsafeUninitializedCapacity: configuration.mtu) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var writer = ByteWriter(raw, offset: DatagramHeader.byteCount)
            let end = configuration.mtu - AEADOverhead.tag
            ack?.write(into: &writer)
            var next = first
            while let chunk = next {
                let length = outgoing[chunk.slot].dataLength(of: chunk.index)
                guard writer.offset + ChunkFrame.headerByteCount + length <= end else { break }
                let chunkSize = outgoing[chunk.slot].chunkSize, number = outgoing[chunk.slot].number
                ChunkFrame.writeHeader(into: &writer, messageID: number, messageLength: outgoing[chunk.slot].bytes.count,
                                       index: chunk.index, chunkSize: chunkSize)
                let offset = chunk.index * chunkSize
                outgoing[chunk.slot].bytes.withUnsafeBytes { writer.copy(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + length])) }
                outgoing[chunk.slot].markSent(chunk.index, counter: counter)
                if chunk.isRetransmission { context.metrics.chunksRetransmitted += 1 }
                roundRobin = chunk.slot + 1
                let ref = ChunkRef(message: number, index: chunk.index)
                if refs.first == nil { refs.first = ref } else { refs.more.append(ref) }
                next = writer.offset + ChunkFrame.headerByteCount < end ? peekChunk() : nil
            }
            guard ack != nil || refs.first != nil else {
                count = 0
                return
            }
            // The last packet of a flight (window full, nothing more to send) and timeout probes
            // ask for an immediate acknowledgement, so the sender never waits out the ack delay.
            if refs.first != nil {
                let isProbe = probesAllowed > 0
                if isProbe { probesAllowed -= 1 }
                if writer.offset < end,
                   isProbe || inFlight.bytesInFlight + writer.offset + AEADOverhead.tag >= congestion.window || peekChunk() == nil {
                    writer.u8(FrameType.ackNow.rawValue)
                }
            }
            let payloadLength = writer.offset - DatagramHeader.byteCount
            let header = DatagramHeader(kind: .data, networkTag: context.network.tag, sender: UInt16(context.localIndex),
                                        receiver: UInt16(peer), senderSession: context.localSession,
                                        receiverSession: peerSession, counter: counter)
            var headerWriter = ByteWriter(raw)
            header.write(into: &headerWriter)
            Self.seal(raw, with: cipher, header: header, payloadLength: payloadLength, network: context.network)
            count = writer.offset + AEADOverhead.tag
        }
        guard !datagram.isEmpty else { return }
        nextCounter += 1
        if ack != nil { acks.didSendAck() }
        if let firstRef = refs.first {
            let chunks: ChunkList = refs.more.isEmpty ? .one(firstRef) : .many([firstRef] + refs.more)
            inFlight.append(SentPacket(counter: counter, sentAt: now, size: datagram.count, chunks: chunks))
            probeTimerAnchor = now
            congestion.onSent(size: datagram.count)
        }
        emit(datagram, context: &context)
    }

    /// Encrypts a datagram in place. Sealing cannot fail with this link's keys and sizes; if it
    /// ever did, the buffer would still hold plaintext, so that is a bug that stops the process
    /// rather than a datagram that goes out unencrypted.
    private static func seal(_ raw: UnsafeMutableRawBufferPointer, with cipher: DatagramCipher, header: DatagramHeader,
                             payloadLength: Int, network: NetworkID) {
        do {
            try cipher.seal(raw, header: header, payloadLength: payloadLength, network: network)
        } catch {
            preconditionFailure("sealing a datagram failed: \(error)")
        }
    }

    mutating func sendHello(now: Duration, context: inout LinkContext) {
        let counter = nextCounter
        nextCounter += 1
        let header = DatagramHeader(kind: .hello, networkTag: context.network.tag, sender: UInt16(context.localIndex),
                                    receiver: UInt16(peer), senderSession: context.localSession,
                                    receiverSession: peerSession, counter: counter)
        let size = DatagramHeader.byteCount + AEADOverhead.tag
        let datagram = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var writer = ByteWriter(raw)
            header.write(into: &writer)
            Self.seal(raw, with: cipher, header: header, payloadLength: 0, network: context.network)
            count = size
        }
        emit(datagram, context: &context)
    }

    /// Answers a datagram that shows the peer does not know our current session, at most once
    /// per `minRTO` so replayed or repeated datagrams cannot make us chatter.
    mutating func replyHello(now: Duration, context: inout LinkContext) {
        guard now >= helloReplyAllowedAt else { return }
        helloReplyAllowedAt = now + context.configuration.minRTO
        sendHello(now: now, context: &context)
    }

    private func emit(_ datagram: [UInt8], context: inout LinkContext) {
        context.metrics.datagramsSent += 1
        context.metrics.bytesSent += datagram.count
        context.outbox.append(.transmit(datagram, to: peer))
    }

    // MARK: Acknowledgements and losses

    /// Applies an acknowledgement frame; false if it acknowledges counters never sent.
    mutating func process(_ frame: AckFrame, now: Duration, context: inout LinkContext) -> Bool {
        guard frame.largest < nextCounter else { return false }
        creditLateAcknowledgements(frame, context: &context)
        let acknowledged = inFlight.acknowledge(frame.ranges)
        guard !acknowledged.isEmpty else { return true }
        if largestAcknowledged.map({ frame.largest > $0 }) ?? true { largestAcknowledged = frame.largest }
        for packet in acknowledged {
            congestion.onAcknowledged(bytes: packet.size, sentAt: packet.sentAt)
            if packet.counter == frame.largest {
                rtt.add(sample: now - packet.sentAt, ackDelay: .microseconds(Int64(clamping: frame.ackDelayMicros)),
                        maxAckDelay: context.configuration.maxAckDelay)
            }
            packet.chunks.forEach { acknowledge($0, context: &context) }
        }
        timeoutBackoff = 0
        probesAllowed = 0
        detectLosses(now: now, context: &context)
        return true
    }

    /// Chunks of packets declared lost too early (reordering, delay) need not go again.
    private mutating func creditLateAcknowledgements(_ frame: AckFrame, context: inout LinkContext) {
        guard let oldest = recentlyLost.first, oldest.counter <= frame.largest else { return }
        var kept: [SentPacket] = []
        for packet in recentlyLost {
            if frame.ranges.contains(where: { $0.contains(packet.counter) }) {
                context.metrics.spuriousLosses += 1
                packet.chunks.forEach { acknowledge($0, context: &context) }
            } else {
                kept.append(packet)
            }
        }
        recentlyLost = kept
    }

    private mutating func acknowledge(_ ref: ChunkRef, context: inout LinkContext) {
        guard let slot = slot(of: ref.message), outgoing[slot].acknowledge(ref.index), outgoing[slot].isComplete else { return }
        finish(slot)
        context.metrics.messagesAcknowledged += 1
        context.outbox.append(.acknowledged(MessageID(peer: peer, number: ref.message)))
    }

    private mutating func finish(_ slot: Int) {
        outgoing.remove(at: slot)
        if roundRobin > slot { roundRobin -= 1 }
    }

    /// Declares lost every in-flight packet three counters below the largest acknowledged one,
    /// or sent more than 9/8 RTT before it; arms the loss timer for the rest.
    mutating func detectLosses(now: Duration, context: inout LinkContext) {
        lossTimer = nil
        guard let largest = largestAcknowledged else { return }
        let (lost, next) = inFlight.takeLost(below: largest, delay: rtt.lossDelay, now: now)
        lossTimer = next
        context.metrics.packetsDeclaredLost += lost.count
        declareLost(lost, now: now)
    }

    /// No acknowledgement for a whole timeout (RFC 9002's probe timeout): up to two packets may
    /// go beyond the window, asking for an immediate ack, with new data if there is some, else
    /// with the oldest unacknowledged chunks. Nothing else is declared lost: the ack they draw
    /// tells what really was. Only repeated timeouts collapse the window; each doubles the next.
    mutating func onRetransmissionTimeout(now: Duration, context: inout LinkContext) {
        timeoutBackoff += 1
        probeTimerAnchor = now
        context.metrics.retransmissionTimeouts += 1
        if timeoutBackoff >= 3 { congestion.onTimeout(now: now) }
        probesAllowed = 2
        if !hasSendableChunk, let oldest = inFlight.takeOldest() {
            context.metrics.packetsDeclaredLost += 1
            declareLost([oldest], now: now)
        }
    }

    private mutating func declareLost(_ packets: [SentPacket], now: Duration) {
        for packet in packets {
            congestion.onLost(sentAt: packet.sentAt, now: now)
            packet.chunks.forEach { ref in
                if let slot = slot(of: ref.message) { outgoing[slot].packetLost(ref.index, counter: packet.counter) }
            }
            recentlyLost.append(packet)
        }
        if recentlyLost.count > 2 * Self.recentlyLostLimit { recentlyLost.removeFirst(recentlyLost.count - Self.recentlyLostLimit) }
    }

    /// Reports messages whose deadline passed; deadlines grow with message numbers.
    mutating func expireMessages(now: Duration, context: inout LinkContext) {
        while !outgoing.isEmpty, outgoing[0].deadline <= now {
            let number = outgoing[0].number
            finish(0)
            context.metrics.messagesFailed += 1
            context.outbox.append(.sendFailed(MessageID(peer: peer, number: number), .timedOut))
        }
    }
}
