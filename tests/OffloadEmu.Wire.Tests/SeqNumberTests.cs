using FsCheck;
using FsCheck.Fluent;

namespace OffloadEmu.Wire.Tests;

public class SeqNumberTests
{
    private static SeqNumber S(uint v) => new(v);

    [Fact]
    public void ComparisonsAcrossTheWrap()
    {
        var max = S(0xFFFFFFFF);
        var zero = S(0);
        Assert.True(max < zero);
        Assert.True(max <= zero);
        Assert.True(zero > max);
        Assert.True(zero >= max);
        Assert.False(zero < max);
        Assert.True(S(0xFFFFFFF0) < S(0x10));
        Assert.True(S(0x7FFFFFFF) > S(0));
        Assert.True(S(0x80000001) < S(0)); // more than 2^31 ahead reads as behind
        Assert.True(S(5) <= S(5) && S(5) >= S(5) && !(S(5) < S(5)) && !(S(5) > S(5)));
    }

    [Fact]
    public void ArithmeticWraps()
    {
        Assert.Equal(S(4), S(0xFFFFFFFE) + 6);
        Assert.Equal(S(0xFFFFFFFE), S(4) - 6);
        Assert.Equal(S(0xFFFFFFFE), S(4) + -6);
        Assert.Equal(6, S(4) - S(0xFFFFFFFE));
        Assert.Equal(-6, S(0xFFFFFFFE) - S(4));
        Assert.Equal(int.MinValue, S(0x80000000) - S(0));
    }

    [Fact]
    public void MaxMinFollowSerialOrder()
    {
        Assert.Equal(S(3), SeqNumber.Max(S(0xFFFFFFFF), S(3)));
        Assert.Equal(S(0xFFFFFFFF), SeqNumber.Min(S(0xFFFFFFFF), S(3)));
        Assert.Equal(S(3), SeqNumber.Max(S(3), S(3)));
    }

    [Fact]
    public void ToStringIsThePlainUnsignedNumber()
    {
        Assert.Equal("4294967295", S(0xFFFFFFFF).ToString());
        Assert.Equal("0", S(0).ToString());
        Span<char> buf = stackalloc char[10];
        Assert.True(S(2147483648).TryFormat(buf, out int n));
        Assert.Equal("2147483648", buf[..n].ToString());
    }

    [Fact]
    public void EqualityAndHash()
    {
        Assert.Equal(S(7), S(7));
        Assert.True(S(7) == S(7));
        Assert.True(S(7) != S(8));
        Assert.Equal(S(7).GetHashCode(), S(7).GetHashCode());
        Assert.Equal(7u, (uint)(SeqNumber)7u);
    }

    [Fact]
    public void Property_AddingLessThanHalfTheSpaceMovesForward()
    {
        Prop.ForAll(TcpOptionsTests.UInt32Gen.ToArbitrary(), Gen.Choose(1, int.MaxValue).ToArbitrary(), (a, n) =>
        {
            var s = S(a);
            var t = s + n;
            return t > s && t >= s && s < t && !(t < s) && t - s == n && SeqNumber.Max(s, t) == t && SeqNumber.Min(s, t) == s;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Property_EdgesOfTheWindowNearTheWrap()
    {
        // Concentrate on values near 0xFFFFFFFF and 0 where an unsigned comparison would go wrong.
        var nearWrap = Gen.Choose(-1000, 1000).Select(d => unchecked((uint)d));
        Prop.ForAll(nearWrap.ToArbitrary(), Gen.Choose(1, 5000).ToArbitrary(), (a, n) => S(a) + n > S(a) && S(a) - n < S(a))
            .QuickCheckThrowOnFailure();
    }
}
