pub async fn load_if_empty(_db: &sea_orm::DatabaseConnection) -> anyhow::Result<()> { Ok(()) }
