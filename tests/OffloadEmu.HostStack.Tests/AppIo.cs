namespace OffloadEmu.HostStack.Tests;

/// <summary>Application-side helpers: they run as continuations inside the lab's rounds (manual mode).</summary>
internal static class AppIo
{
    public static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Reads until <paramref name="expected"/> bytes or end of stream, with reads of <paramref name="readSize"/>.</summary>
    public static async Task<byte[]> ReadAsync(OffloadSocket socket, int expected, int readSize = 8192, MemoryStream? into = null)
    {
        var ms = into ?? new MemoryStream();
        var buffer = new byte[readSize];
        while (ms.Length < expected)
        {
            int n = await socket.ReadAsync(buffer);
            if (n == 0) break;
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }

    /// <summary>Reads to end of stream.</summary>
    public static Task<byte[]> ReadToEndAsync(OffloadSocket socket) => ReadAsync(socket, int.MaxValue);

    /// <summary>Writes in pieces of <paramref name="writeSize"/>.</summary>
    public static async Task WriteAsync(OffloadSocket socket, byte[] data, int writeSize = 32 * 1024)
    {
        for (int offset = 0; offset < data.Length; offset += writeSize)
            await socket.WriteAsync(data.AsMemory(offset, Math.Min(writeSize, data.Length - offset)));
    }
}
