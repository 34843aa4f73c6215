using OffloadEmu.Chimney.State;

namespace OffloadEmu.Chimney.Tests;

public class OffloadContextSlotTests
{
    [Fact]
    public void Zero_means_no_context()
    {
        var slot = new OffloadContextSlot();
        Assert.False(slot.HasContext);
        Assert.Contains("none", slot.ToString());
        slot.Context = 0x2a;
        Assert.True(slot.HasContext);
        Assert.Contains("2a", slot.ToString());
        Assert.True(new OffloadContextSlot(7).HasContext);
    }

    [Fact]
    public void Role_follows_the_slot()
    {
        var block = new OffloadBlock(OffloadBlockType.TcpOffloadState);
        Assert.Equal(OffloadBlockRole.Placeholder, block.Role);
        block.MiniportOffloadContext = new OffloadContextSlot();
        Assert.Equal(OffloadBlockRole.NewOffload, block.Role);
        block.MiniportOffloadContext.Context = 1; // what the target writes on success
        Assert.Equal(OffloadBlockRole.Linker, block.Role);
        Assert.Equal(OffloadLayer.Tcp, block.Layer);
    }

    [Fact]
    public void TcpState_IsDefined_covers_exactly_the_eleven_ndis_values()
    {
        Assert.All(Enum.GetValues<TcpState>(), s => Assert.True(s.IsDefined()));
        Assert.False(((TcpState)(-1)).IsDefined());
        Assert.False(((TcpState)11).IsDefined());
    }
}
