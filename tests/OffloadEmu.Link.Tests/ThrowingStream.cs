namespace OffloadEmu.Link.Tests;

/// <summary>A writable stream that fails every write and flush once <see cref="Broken"/> is set (a full disk, a yanked USB stick).</summary>
internal sealed class ThrowingStream : Stream
{
    public bool Broken { get; set; }
    public long Written { get; private set; }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() { if (Broken) throw new IOException("No space left on device"); }
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Broken) throw new IOException("No space left on device");
        Written += buffer.Length;
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
