// Reads the undefined (imported) dynamic symbols of an ELF64 little-endian shared object, enough
// to check what a built binary calls without depending on binutils.

/** Names of the symbols `image` (an ELF64 LE file's bytes) imports from other objects. */
export function importedSymbols(image) {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength)
  if (image.readUInt32BE(0) !== 0x7f454c46 || image[4] !== 2 || image[5] !== 1) {
    throw new Error('not an ELF64 little-endian file')
  }
  const u16 = (at) => view.getUint16(at, true)
  const u32 = (at) => view.getUint32(at, true)
  const u64 = (at) => Number(view.getBigUint64(at, true))
  const sectionsAt = u64(0x28)
  const sectionSize = u16(0x3a)
  const sections = Array.from({ length: u16(0x3c) }, (_, i) => {
    const at = sectionsAt + i * sectionSize
    return { type: u32(at + 4), offset: u64(at + 0x18), size: u64(at + 0x20), link: u32(at + 0x28), entsize: u64(at + 0x38) }
  })
  const SHT_DYNSYM = 11
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM)
  if (dynsym === undefined) return []
  const strings = sections[dynsym.link]
  const names = []
  for (let at = dynsym.offset; at < dynsym.offset + dynsym.size; at += dynsym.entsize) {
    const shndx = u16(at + 6)
    if (shndx !== 0) continue // defined here
    const start = strings.offset + u32(at)
    const end = image.indexOf(0, start)
    if (end > start) names.push(image.toString('latin1', start, end))
  }
  return names
}
