//! A person using quaderno (`user` is reserved in PostgreSQL, hence the table name).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_user")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    pub created_at: DateTimeUtc,
    /// When the account was removed (`quaderno user remove`): its name is then a placeholder,
    /// its tokens revoked and its roles taken; what it wrote stays under its id.
    pub removed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
