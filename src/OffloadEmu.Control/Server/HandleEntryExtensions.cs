using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Server;

internal static class HandleEntryExtensions
{
    public static OffloadLayer Layer(this HandleEntry entry) => entry.Type.GetLayer();
}
