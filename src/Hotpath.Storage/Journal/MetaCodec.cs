using Hotpath.Pprof;

namespace Hotpath.Storage.Journal;

/// <summary>A profile's metadata as the journal's records hold it: a version byte, then its fields in order.</summary>
internal static class MetaCodec
{
    private const byte Version = 1;

    public static byte[] Encode(ProfileMeta meta)
    {
        using var buffer = new MemoryStream(128);
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(Version);
            writer.Write(meta.Id);
            writer.Write(meta.Service);
            writer.Write((byte)meta.Type);
            writer.Write(meta.InstanceId);
            writer.Write(meta.Labels.Count);
            foreach (var label in meta.Labels)
            {
                writer.Write(label.Key);
                writer.Write(label.Value);
            }

            writer.Write(meta.CreatedAtUnixNanos);
            writer.Write(meta.Size);
            writer.Write(meta.Value);
        }

        return buffer.ToArray();
    }

    /// <exception cref="InvalidDataException">Not a record this version wrote.</exception>
    public static ProfileMeta Decode(ReadOnlySpan<byte> bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes.ToArray()));
        if (reader.ReadByte() != Version)
            throw new InvalidDataException("a journal record of an unknown version");
        var id = reader.ReadString();
        var service = reader.ReadString();
        var type = (ProfileType)reader.ReadByte();
        var instance = reader.ReadString();
        var labels = new ProfileLabel[reader.ReadInt32()];
        for (var i = 0; i < labels.Length; i++)
            labels[i] = new ProfileLabel(reader.ReadString(), reader.ReadString());
        return new ProfileMeta(id, service, type, instance, labels, reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64());
    }
}
