using System.Text.Json.Serialization;

namespace Hotpath.Storage;

/// <summary>Source-generated JSON for the few shapes storage code serializes.</summary>
[JsonSerializable(typeof(string[]))]
internal sealed partial class StorageJson : JsonSerializerContext;
