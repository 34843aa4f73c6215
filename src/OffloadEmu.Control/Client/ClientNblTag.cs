using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Client;

/// <summary>Parked in ProtocolReserved of an NBL the client made for the host (an indication or returned BufferedData):
/// the bytes to give back when the host returns it (ReceiveReturn).</summary>
internal sealed class ClientNblTag(PooledBytes? bytes, RentedBuffer? rented)
{
    public void Release()
    {
        bytes?.Release();
        rented?.Release();
    }
}
