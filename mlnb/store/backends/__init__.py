"""Store backends: the storage a store's events, blobs and claims live on (`base` declares what one
provides, `local` is the `.mlnb` folder, `registry` picks one by URL scheme)."""
