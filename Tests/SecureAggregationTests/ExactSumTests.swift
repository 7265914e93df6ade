import Crypto
@testable import SecureAggregation
import Testing
import TestKit

@Suite struct ExactSumTests {
    @Test(arguments: 3...12)
    func everyMemberGetsTheExactSum(k: Int) {
        let d = 4_100 + k // crosses a mask-slice boundary
        var group = Fixture.group(k: k, d: d, seed: UInt64(k))
        let inputs = Fixture.inputs(k: k, d: d, seed: UInt64(100 + k))
        let outcomes = group.run(inputs: inputs)
        let expected = Fixture.sum(inputs, of: Array(0..<k))
        for m in 0..<k {
            let result = outcomes[m]?.result
            #expect(result?.contributors == Array(0..<k), "member \(m)")
            #expect(result?.sum == expected, "member \(m)")
        }
        #expect(group.rejections.isEmpty)
        #expect(group.sessions.allSatisfy { $0.isClosed })
    }
}
