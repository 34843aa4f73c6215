using System.IO.Pipelines;

namespace OffloadEmu.HostStack;

/// <summary>An <see cref="IDuplexPipe"/> over an <see cref="OffloadSocket"/>'s stream.</summary>
internal sealed class OffloadSocketPipe(Stream stream) : IDuplexPipe
{
    public PipeReader Input { get; } = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));

    public PipeWriter Output { get; } = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
}
